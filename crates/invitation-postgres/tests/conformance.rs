//! The storage conformance suite from `invitation-testkit`, every behaviour,
//! against a real PostgreSQL: each behaviour gets a fresh schema and a pool
//! of 16 connections (the exactly-once race has 64 racers on it).
//!
//! A row edited by hand can break the domain's rules where the table's
//! checks do not see it: the corrupt-row clause plants one whose name is
//! not a slug (the table checks only its length).

mod support;

invitation_testkit::store_conformance_tests!(
    match support::store().await {
        Some(store) => store,
        None => return,
    },
    plant_corrupt = |db: support::TestStore, invitation: invitation_core::Invitation| async move {
        db.sql(&format!(
            "INSERT INTO invitations (id, name, expires, fixed_data, single_use, flow, created_by) \
             VALUES ('{}', 'not a slug', NULL, '{{}}', false, NULL, {})",
            invitation.id(),
            invitation.created_by(),
        ))
        .await
        .expect("the unreadable row is planted");
    },
);
