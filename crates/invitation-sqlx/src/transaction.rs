//! [`SqlxTransactionStore`]: the store's operations inside a transaction
//! the host owns.

use std::fmt;

use tokio::sync::Mutex;

use crate::{Backend, SqlxStore};

/// The invitation store (and mail outbox) inside a transaction the host
/// owns, made by [`SqlxStore::in_transaction`]: what a host hands to
/// `InvitationService::unit_of_work` to write invitations together with
/// its own rows, all or nothing.
///
/// It runs the same statements as [`SqlxStore`] and reads their rows the
/// same way; what differs is where they run and who is responsible for the
/// transaction:
///
/// - **Borrowing.** sqlx runs a statement on a `&mut` connection, while
///   the store's port methods take `&self`. The scoped store therefore
///   holds the host's `&mut` connection behind an async mutex
///   (`tokio::sync::Mutex`, held across the statement's `.await`), so its
///   calls take turns on the one connection, as they must. The host gets
///   its connection back when the scoped store is dropped: scope it to the
///   unit of work.
/// - **Durability.** Writes are part of the host's transaction: other
///   connections see them, and they last, only once the host commits; a
///   rollback (or dropping the transaction) undoes them. Reads through
///   this store see the transaction's own writes. Events belong after the
///   commit: publish the unit of work's `PendingEvents` then, and drop them
///   on rollback.
/// - **Errors and retries.** Each statement is sent once; nothing is
///   retried, committed or rolled back here: the transaction is the
///   host's, and so is retrying it. A taken id answers
///   `StoreError::Conflict` without an error on the database (the insert
///   is `ON CONFLICT DO NOTHING`). Otherwise the backends differ:
///   - *SQLite:* a failed statement undoes only itself (statement
///     rollback), so the transaction stays usable. A transaction begun
///     with a plain (deferred) `BEGIN` that has read and then writes while
///     another connection has written since gets `SQLITE_BUSY` at once
///     (`StoreError::Unavailable`), whatever the busy timeout: begin
///     writing transactions with `BEGIN IMMEDIATE`
///     (`pool.begin_with("BEGIN IMMEDIATE")`), which waits for the write
///     lock up front.
///   - *PostgreSQL:* a failed statement aborts the whole transaction (the
///     host can only roll it back), as any statement of the host's would;
///     among the store's, an `enqueue` racing another transaction's
///     `enqueue` of the same mail id fails so (`StoreError::MailConflict`).
///     Under `REPEATABLE READ` or `SERIALIZABLE`, a serialization failure
///     (`StoreError::Unavailable`) means the host runs its transaction
///     again. The connection's `statement_timeout` applies.
/// - **Locks.** SQLite has one writer per database file: from its first
///   write until the host commits, every other writer waits (up to its busy
///   timeout). PostgreSQL locks the rows written until the commit: a
///   redemption or update of the same invitation elsewhere waits for it.
///   Keep the transaction short.
///
/// The tables must already be migrated (`migrate`, run on the pool, not
/// inside the transaction).
pub struct SqlxTransactionStore<'t, DB: Backend> {
    pub(crate) store: &'t SqlxStore<DB>,
    pub(crate) connection: Mutex<&'t mut DB::Connection>,
}

impl<'t, DB: Backend> SqlxTransactionStore<'t, DB> {
    pub(crate) fn new(store: &'t SqlxStore<DB>, connection: &'t mut DB::Connection) -> Self {
        Self {
            store,
            connection: Mutex::new(connection),
        }
    }

    /// The store this scopes.
    pub fn store(&self) -> &SqlxStore<DB> {
        self.store
    }
}

impl<DB: Backend> fmt::Debug for SqlxTransactionStore<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (naming, name) = DB::naming(self.store.statements());
        f.debug_struct("SqlxTransactionStore")
            .field("database", &DB::NAME)
            .field(naming, &name)
            .finish_non_exhaustive()
    }
}
