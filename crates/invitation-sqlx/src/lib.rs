#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod prefix;
#[cfg(feature = "sqlite")]
mod sqlite;
mod transaction;

use std::fmt;
use std::sync::Arc;

pub use sqlx;
use sqlx::{Database, Pool};

pub use crate::error::SqlxError;
use crate::prefix::Prefix;
pub use crate::prefix::DEFAULT_PREFIX;
#[cfg(feature = "sqlite")]
pub use crate::sqlite::{
    SqliteStore, SqliteTransactionStore, DEFAULT_BUSY_TIMEOUT, DEFAULT_POOL_SIZE,
};
pub use crate::transaction::SqlxTransactionStore;

/// The invitation store (and mail outbox) over a host's sqlx pool of
/// database `DB`: [`SqliteStore`] (`SqlxStore<Sqlite>`) with the `sqlite`
/// feature.
///
/// Clones share the pool. Every operation runs on a connection of the pool;
/// to write inside a transaction of the host's own, see
/// [`SqlxStore::in_transaction`].
pub struct SqlxStore<DB: Database> {
    pool: Pool<DB>,
    prefix: Prefix,
    sql: Arc<Statements>,
}

impl<DB: Database> SqlxStore<DB> {
    /// The pool the store runs on.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The prefix of the store's table names (`invitation_` by default).
    pub fn table_prefix(&self) -> &str {
        self.prefix.as_str()
    }

    /// The store's operations inside a transaction the host opened on
    /// `connection` (a `&mut Transaction` of the host's dereferences to
    /// it): see [`SqlxTransactionStore`].
    pub fn in_transaction<'t>(
        &'t self,
        connection: &'t mut DB::Connection,
    ) -> SqlxTransactionStore<'t, DB> {
        SqlxTransactionStore::new(self, connection)
    }

    pub(crate) fn statements(&self) -> &Statements {
        &self.sql
    }
}

impl<DB: Database> Clone for SqlxStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            prefix: self.prefix.clone(),
            sql: Arc::clone(&self.sql),
        }
    }
}

impl<DB: Database> fmt::Debug for SqlxStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlxStore")
            .field("database", &DB::NAME)
            .field("table_prefix", &self.prefix.as_str())
            .finish_non_exhaustive()
    }
}

/// The SQL text of every statement whose text does not depend on the call,
/// built once per store for its table prefix.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) insert: String,
    pub(crate) get: String,
    pub(crate) update: String,
    pub(crate) version: String,
    pub(crate) delete: String,
    pub(crate) consume: String,
    pub(crate) purge_expired: String,
    pub(crate) unbind_flow: String,
    pub(crate) delete_created_by: String,
    pub(crate) ping: String,
    /// One per ordering: `list[field index * 2 + descending]`.
    pub(crate) list: Vec<String>,
    pub(crate) enqueue: String,
    pub(crate) claim: String,
    pub(crate) record: String,
    pub(crate) purge_finished: String,
}
