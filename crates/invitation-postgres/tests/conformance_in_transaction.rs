//! The storage conformance suite through `PgStore::in_transaction`: every
//! clause that one caller can run, each inside one transaction of its own
//! that must still be usable afterwards (no statement failed in it) and is
//! then committed. Twice: in a `READ COMMITTED` transaction of a
//! `deadpool-postgres` pool, and in a `SERIALIZABLE` transaction of a plain
//! `tokio-postgres` connection.
//!
//! Left out are the clauses that race many concurrent callers (the 64
//! redeemers, concurrent inserts, concurrent updates): a transaction is one
//! session and serves one statement at a time, so they would test nothing
//! but queueing. `tests/conformance.rs` runs them on the pool.
// Tests: failing loudly is the point.
#![allow(clippy::expect_used)]

mod support;

use invitation_testkit::conformance;
use tokio_postgres::IsolationLevel;

/// The transaction still takes statements: none of the clause's failed
/// (a failed statement aborts it, and PostgreSQL would refuse this one).
async fn assert_usable(transaction: &tokio_postgres::Transaction<'_>) {
    transaction
        .batch_execute("SELECT 1")
        .await
        .expect("the transaction is still usable");
}

macro_rules! in_transaction {
    ($($clause:ident),* $(,)?) => {
        mod read_committed_on_a_deadpool_connection {
            use super::*;
            $(
                #[tokio::test]
                async fn $clause() {
                    let Some(db) = support::store().await else {
                        return;
                    };
                    let mut client = db.store.pool().get().await.expect("a connection");
                    let transaction = client.transaction().await.expect("a transaction");
                    conformance::$clause(&db.store.in_transaction(&transaction)).await;
                    assert_usable(&transaction).await;
                    transaction.commit().await.expect("commit");
                }
            )*
        }

        mod serializable_on_a_plain_connection {
            use super::*;
            $(
                #[tokio::test]
                async fn $clause() {
                    let Some(db) = support::store().await else {
                        return;
                    };
                    let mut client = support::connect(&support::config(db.schema.url())).await;
                    let transaction = client
                        .build_transaction()
                        .isolation_level(IsolationLevel::Serializable)
                        .start()
                        .await
                        .expect("a transaction");
                    conformance::$clause(&db.store.in_transaction(&transaction)).await;
                    assert_usable(&transaction).await;
                    transaction.commit().await.expect("commit");
                }
            )*
        }
    };
}

invitation_testkit::single_caller_clauses!(in_transaction);
