#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
mod prefix;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod target;
mod transaction;

use std::fmt;
use std::sync::Arc;

pub use sqlx;
use sqlx::{Database, Pool};

pub use crate::error::SqlxError;
#[cfg(feature = "postgres")]
pub use crate::postgres::{PostgresStore, PostgresTransactionStore};
#[cfg(feature = "sqlite")]
pub use crate::prefix::DEFAULT_PREFIX;
#[cfg(feature = "sqlite")]
pub use crate::sqlite::{SqliteStore, SqliteTransactionStore};
pub use crate::transaction::SqlxTransactionStore;

mod sealed {
    pub trait Sealed {}
}

/// A database this crate stores invitations in: `sqlx::Sqlite` (feature
/// `sqlite`) and `sqlx::Postgres` (feature `postgres`). Sealed: the
/// statements of each are the crate's own.
pub trait Backend: Database + sealed::Sealed {
    /// The statement texts of a store, built once for its table names.
    #[doc(hidden)]
    type Statements: Send + Sync + 'static;

    /// What names the store's tables, for `Debug`: `("table_prefix",
    /// "invitation_")`, `("schema", "invitation")`.
    #[doc(hidden)]
    fn naming(statements: &Self::Statements) -> (&'static str, &str);
}

/// The invitation store (and mail outbox) over a host's sqlx pool of
/// database `DB`: [`SqliteStore`] (`SqlxStore<Sqlite>`, feature `sqlite`)
/// and [`PostgresStore`] (`SqlxStore<Postgres>`, feature `postgres`).
///
/// Clones share the pool. Every operation runs on a connection of the pool;
/// to write inside a transaction of the host's own, see
/// [`SqlxStore::in_transaction`].
pub struct SqlxStore<DB: Backend> {
    pool: Pool<DB>,
    sql: Arc<DB::Statements>,
}

impl<DB: Backend> SqlxStore<DB> {
    /// The pool the store runs on.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
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

    pub(crate) fn statements(&self) -> &DB::Statements {
        &self.sql
    }
}

impl<DB: Backend> Clone for SqlxStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sql: Arc::clone(&self.sql),
        }
    }
}

impl<DB: Backend> fmt::Debug for SqlxStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (naming, name) = DB::naming(&self.sql);
        f.debug_struct("SqlxStore")
            .field("database", &DB::NAME)
            .field(naming, &name)
            .finish_non_exhaustive()
    }
}
