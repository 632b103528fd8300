//! The storage and outbox conformance suites from `invitation-testkit`,
//! every clause, against a real PostgreSQL through sqlx: each clause gets a
//! fresh schema and a pool of 16 connections, directly and as
//! `Arc<dyn InvitationStore>`, with the corrupt-row clause; the outbox's
//! claimers also run on two stores with pools of their own over one schema.
#![cfg(feature = "postgres")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used)]

mod pg_support;

mod store {
    use super::pg_support;

    invitation_testkit::store_conformance_tests!(
        match pg_support::store().await {
            Some(store) => store,
            None => return,
        },
        plant_corrupt = |db: pg_support::PgTestStore, invitation: invitation_core::Invitation| async move {
            pg_support::plant_corrupt(&db, &invitation).await;
        },
    );
}

mod store_as_dyn {
    use std::sync::Arc;

    use invitation_core::InvitationStore;

    use super::pg_support;

    invitation_testkit::store_conformance_tests!({
        let Some(store) = pg_support::store().await else {
            return;
        };
        let store: Arc<dyn InvitationStore> = Arc::new(store);
        store
    });
}

mod outbox {
    use super::pg_support;

    invitation_testkit::outbox_conformance_tests!(
        match pg_support::store().await {
            Some(store) => store,
            None => return,
        },
        another = |db: &pg_support::PgTestStore| db.another(16),
    );
}
