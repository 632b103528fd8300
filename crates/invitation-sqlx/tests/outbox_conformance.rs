//! The mail outbox conformance suite from `invitation-testkit`, every
//! clause, against SQLite: each clause gets a fresh database file (the
//! outbox of its own the suite needs).
//!
//! The claimers also run on two stores with pools of their own over one
//! file, as two server processes dispatching one queue would: 200 mails,
//! each claimed exactly once.
#![cfg(feature = "sqlite")]

mod support;

invitation_testkit::outbox_conformance_tests!(
    support::TestStore::new().await,
    another = |db: &support::TestStore| db.another(),
);
