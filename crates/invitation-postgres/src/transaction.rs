//! [`PgTransactionStore`]: the store's operations inside a transaction the
//! host owns.

use std::fmt;

use tokio_postgres::Transaction;

use crate::conn::Executor;
use crate::store::Session;
use crate::PgStore;

/// The invitation store inside a transaction the host owns, made by
/// [`PgStore::in_transaction`]: what a host hands to
/// `InvitationService::unit_of_work` to write invitations together with its
/// own rows, all or nothing.
///
/// It runs the same statements as [`PgStore`] and reads their rows the same
/// way; what differs is where they run and who is responsible for the
/// transaction:
///
/// - **Durability.** Writes are part of the host's transaction: other
///   connections see them, and they last, only once the host commits; a
///   rollback undoes them. Reads through this store see the transaction's
///   own writes. Events belong after the commit: publish the unit of
///   work's `PendingEvents` then, and drop them on rollback.
/// - **Errors and retries.** Each statement is sent once. A statement
///   that fails aborts the host's whole transaction (PostgreSQL refuses its
///   later statements until it rolls back), so nothing is retried here: a
///   serialization failure (40001) or deadlock (40P01) is
///   `StoreError::Unavailable`, as a statement timeout or a broken
///   connection is, and the host rolls back and retries its whole
///   transaction if it wants to. Under `REPEATABLE READ` or `SERIALIZABLE`,
///   concurrent writers make 40001 an expected outcome. A taken id is not
///   an error on the server: `insert` answers `StoreError::Conflict` and the
///   transaction goes on.
/// - **Time bounds.** A statement runs under whatever `statement_timeout`
///   the host's connection has: [`PgOptions::apply_to`](crate::PgOptions::apply_to)
///   on the pool's configuration gives its connections the adapter's
///   (5 s by default); a connection without it has the server's default,
///   often none (`SET LOCAL statement_timeout` bounds one transaction).
/// - **Cancellation.** A call whose future is dropped mid-statement does
///   not cancel the statement or close the connection: both are the host's.
///   Dropping the transaction rolls it back.
/// - **Cost.** There is no statement cache to keep statements in: each
///   operation prepares its statement on the transaction and then runs it,
///   two round trips instead of the pooled store's one (the statement is
///   closed again without waiting for an answer); a filtered or searching
///   list is one round trip, an unnamed statement as on the pool.
/// - **Locks.** Rows written stay locked until the host commits or rolls
///   back, and so does the one of the 64 row counters (picked by the
///   backend's pid) an insert or delete updates: another writer of the same
///   row or counter waits for the host's transaction. Keep it short.
///
/// The schema must already be migrated ([`PgStore::migrate`], run on the
/// pool, not inside the transaction). `ping` runs its statement in the
/// transaction.
pub struct PgTransactionStore<'t> {
    store: &'t PgStore,
    transaction: &'t Transaction<'t>,
}

impl<'t> PgTransactionStore<'t> {
    pub(crate) fn new(store: &'t PgStore, transaction: &'t Transaction<'t>) -> Self {
        Self { store, transaction }
    }

    pub(crate) fn session(&self) -> Session<'_> {
        Session {
            sql: self.store.statements(),
            executor: Executor::Transaction(self.transaction),
        }
    }

    /// The schema holding the store's tables.
    pub fn schema(&self) -> &str {
        self.store.schema()
    }
}

impl fmt::Debug for PgTransactionStore<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTransactionStore")
            .field("schema", &self.store.schema())
            .finish_non_exhaustive()
    }
}
