//! The storage conformance suite through `SqliteStore::in_transaction`:
//! every clause that one caller can run, each inside one transaction of
//! its own (begun `IMMEDIATE`) that must still be usable afterwards and is
//! then committed.
//!
//! Left out are the clauses that race many concurrent callers (the 64
//! redeemers, concurrent inserts, concurrent updates): a transaction is one
//! connection and serves one statement at a time, so they would test
//! nothing but queueing. `tests/conformance.rs` runs them on the pool.
#![cfg(feature = "sqlite")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used)]

mod support;

use invitation_testkit::conformance;

macro_rules! in_transaction {
    ($($clause:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $clause() {
                let db = support::TestStore::new().await;
                let mut transaction = db
                    .store
                    .pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .expect("a transaction");
                conformance::$clause(&db.store.in_transaction(&mut transaction)).await;
                invitation_sqlx::sqlx::query("SELECT 1")
                    .execute(&mut *transaction)
                    .await
                    .expect("the transaction is still usable");
                transaction.commit().await.expect("commit");
            }
        )*
    };
}

invitation_testkit::single_caller_clauses!(in_transaction);
