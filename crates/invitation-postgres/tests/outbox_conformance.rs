//! The mail outbox conformance suite from `invitation-testkit`, every
//! clause, against a real PostgreSQL: each clause gets a fresh schema (the
//! outbox of its own the suite needs) and a pool of 16 connections.
//!
//! The claimers also run on two stores with pools of their own over one
//! schema, as two server instances dispatching one queue would.

mod support;

invitation_testkit::outbox_conformance_tests!(
    match support::store().await {
        Some(store) => store,
        None => return,
    },
    another = |db: &support::TestStore| db.another(16),
);
