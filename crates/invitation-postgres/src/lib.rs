#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod list;
mod migrate;
mod row;
mod schema;
mod store;

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

pub use deadpool_postgres;
pub use deadpool_postgres::tokio_postgres;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

pub use crate::error::PgError;
use crate::schema::{Schema, Statements};

/// The schema [`PgStore::new`] uses.
pub const DEFAULT_SCHEMA: &str = "invitation";

/// How many connections [`PgStore::connect`] pools.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long [`PgStore::connect`]'s pool waits for a free connection, for a
/// new connection to be made, or for one to be recycled, before the call
/// fails with [`invitation_core::StoreError::Unavailable`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL invitation store.
///
/// Clones share the pool. Every operation takes one connection from the pool
/// for one statement (one round trip once the statement is prepared on that
/// connection).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    sql: Arc<Statements>,
}

impl PgStore {
    /// A store over `pool`, with its tables in the schema `invitation`.
    pub fn new(pool: Pool) -> Self {
        Self::from_schema(pool, Schema::default_schema())
    }

    /// A store over `pool`, with its tables in `schema`.
    ///
    /// # Errors
    /// [`PgError::InvalidSchema`] unless `schema` matches
    /// `^[a-z_][a-z0-9_]{0,62}$` (and does not start with `pg_`, which
    /// PostgreSQL reserves).
    pub fn with_schema(pool: Pool, schema: &str) -> Result<Self, PgError> {
        Ok(Self::from_schema(pool, Schema::parse(schema)?))
    }

    /// A store over a new pool of [`DEFAULT_POOL_SIZE`] connections to `url`
    /// (a `postgres://` URL or a `key=value` string), without TLS, with
    /// [`DEFAULT_TIMEOUT`] for waiting, connecting and recycling, and its
    /// tables in the schema `invitation`.
    ///
    /// No connection is made yet: call [`PgStore::migrate`] (or `ping`) to
    /// find out whether the server answers.
    ///
    /// # Errors
    /// [`PgError::Config`] when `url` cannot be read, [`PgError::Build`] when
    /// the pool cannot be built.
    pub fn connect(url: &str) -> Result<Self, PgError> {
        let size = NonZeroUsize::new(DEFAULT_POOL_SIZE).unwrap_or(NonZeroUsize::MIN);
        Self::connect_with_max_size(url, size)
    }

    /// [`PgStore::connect`] with a pool of at most `max_size` connections.
    ///
    /// Prefer this to resizing the pool afterwards: deadpool's
    /// `Pool::resize` lowers the limit only as far as connections already
    /// exist, so a fresh pool resized down still opens up to its first
    /// size under concurrent use.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub fn connect_with_max_size(url: &str, max_size: NonZeroUsize) -> Result<Self, PgError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(PgError::Config)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("invitation-postgres");
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // Only checks `is_closed()`: no test query per checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size.get())
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(DEFAULT_TIMEOUT))
            .create_timeout(Some(DEFAULT_TIMEOUT))
            .recycle_timeout(Some(DEFAULT_TIMEOUT))
            .build()
            .map_err(PgError::Build)?;
        Ok(Self::new(pool))
    }

    fn from_schema(pool: Pool, schema: Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// Creates the schema if needed and applies the embedded migrations this
    /// build knows and the database lacks, in one transaction, under a
    /// database-wide advisory lock: safe to call from several processes at
    /// once, and a no-op when everything is applied. Also (re)tries to create
    /// the optional `pg_trgm` search indexes (see the crate docs).
    ///
    /// # Errors
    /// [`PgError::Pool`] when no connection can be had, [`PgError::Migration`]
    /// when a migration fails (nothing is applied then), [`PgError::Database`]
    /// for anything else the server refuses.
    pub async fn migrate(&self) -> Result<(), PgError> {
        migrate::run(&self.pool, &self.sql.schema).await
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The schema holding this store's tables.
    pub fn schema(&self) -> &str {
        self.sql.schema.name()
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.sql.schema.name())
            .field("pool", &self.pool.status())
            .finish()
    }
}
