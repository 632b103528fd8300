#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conn;
mod error;
mod list;
mod migrate;
mod options;
mod outbox;
mod row;
mod store;
mod tls;
mod transaction;

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

pub use deadpool_postgres;
pub use deadpool_postgres::tokio_postgres;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
pub use tokio_postgres_rustls;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conn::Executor;
pub use crate::error::PgError;
pub use crate::list::MAX_PREPARED_STATEMENTS;
pub use crate::options::{
    PgOptions, DEFAULT_MIGRATION_BUDGET, DEFAULT_MIGRATION_LOCK_TIMEOUT, DEFAULT_POOL_SIZE,
    DEFAULT_STATEMENT_TIMEOUT, DEFAULT_TIMEOUT,
};
use crate::store::Session;
pub use crate::tls::{CertificateCheck, ConnectionSettings};
pub use crate::transaction::PgTransactionStore;
pub use invitation_postgres_sql::list::SEARCH_SLOTS;
pub use invitation_postgres_sql::DEFAULT_SCHEMA;
use invitation_postgres_sql::{Schema, Statements};

/// The PostgreSQL invitation store.
///
/// Clones share the pool. Every operation takes one connection from the pool
/// for one statement (one round trip once the statement is prepared on that
/// connection). To write inside a transaction of the host's own, see
/// [`PgStore::in_transaction`].
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    sql: Arc<Statements>,
    /// What cancel requests go through (see `conn`); without TLS when no
    /// client configuration could be built.
    cancel_tls: Option<MakeRustlsConnect>,
    migration_lock_timeout: Duration,
    migration_budget: Duration,
}

impl PgStore {
    /// A store over `pool`, with its tables in the schema `invitation`.
    ///
    /// The pool is the host's: give its `tokio_postgres::Config` the
    /// per-connection settings with [`PgOptions::apply_to`] (statement
    /// timeout, keepalives) and build it with [`ConnectionSettings`] for
    /// libpq's TLS modes. Cancel requests for statements whose caller went
    /// away are sent over TLS when the connection used TLS, without checking
    /// the certificate (the store cannot see the pool's connector; a cancel
    /// request carries only the backend's cancel key).
    pub fn new(pool: Pool) -> Self {
        Self::from_schema(pool, Schema::default())
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

    /// A store over a new pool to `url` (a `postgres://` URL or a
    /// `key=value` string) with [`PgOptions::default`]: 16 connections,
    /// [`DEFAULT_TIMEOUT`] for waiting, connecting and recycling, a 5 s
    /// `statement_timeout`, TCP keepalives, TLS as the string's `sslmode`
    /// and `sslrootcert` say (libpq's meaning, see [`ConnectionSettings`]),
    /// and its tables in the schema `invitation`.
    ///
    /// No connection is made yet: call [`PgStore::migrate`] (or `ping`) to
    /// find out whether the server answers.
    ///
    /// # Errors
    /// [`PgError::Config`] when `url` cannot be read, [`PgError::Tls`] when
    /// its TLS settings cannot be used, [`PgError::Build`] when the pool
    /// cannot be built.
    pub fn connect(url: &str) -> Result<Self, PgError> {
        Self::connect_with(url, &PgOptions::default())
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
        Self::connect_with(url, &PgOptions::default().max_size(max_size))
    }

    /// [`PgStore::connect`] with other options.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub fn connect_with(url: &str, options: &PgOptions) -> Result<Self, PgError> {
        let settings = ConnectionSettings::parse(url)?;
        let (mut config, tls) = settings.into_parts();
        options.apply_to(&mut config);
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig {
                // Only checks `is_closed()`: no test query per checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_size.get())
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.pool_timeout))
            .recycle_timeout(Some(options.pool_timeout))
            .build()
            .map_err(PgError::Build)?;
        let mut store = Self::new(pool);
        store.cancel_tls = Some(tls);
        store.migration_lock_timeout = options.migration_lock_timeout;
        store.migration_budget = options.migration_budget;
        Ok(store)
    }

    fn from_schema(pool: Pool, schema: Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
            cancel_tls: tls::unverified().ok(),
            migration_lock_timeout: DEFAULT_MIGRATION_LOCK_TIMEOUT,
            migration_budget: DEFAULT_MIGRATION_BUDGET,
        }
    }

    /// The same store (pool, options) with its tables in `schema`.
    ///
    /// # Errors
    /// As [`PgStore::with_schema`].
    pub fn in_schema(&self, schema: &str) -> Result<Self, PgError> {
        Ok(Self {
            sql: Arc::new(Statements::new(Schema::parse(schema)?)),
            ..self.clone()
        })
    }

    /// Creates the schema if needed and applies the embedded migrations this
    /// build knows and the database lacks, in one transaction, under a
    /// database-wide advisory lock: safe to call from several processes at
    /// once, and a no-op when everything is applied. Also (re)tries to create
    /// the optional `pg_trgm` search indexes (see the crate docs).
    ///
    /// It never queues behind another session's locks for long: each
    /// transaction runs with `lock_timeout` (5 s), is retried with backoff
    /// after a lock timeout, and gives up after the migration budget (60 s;
    /// [`PgOptions::migration_timeouts`]). Indexes already there are found
    /// in the catalog without locking the table; a missing index on a
    /// table with rows is built with `CREATE INDEX CONCURRENTLY`.
    ///
    /// # Errors
    /// [`PgError::Pool`] when no connection can be had,
    /// [`PgError::Certificate`] when TLS refused the server,
    /// [`PgError::Migration`] when a migration fails (nothing is applied
    /// then), [`PgError::LockTimeout`] when locks stayed held past the
    /// budget, [`PgError::Database`] for anything else the server refuses.
    pub async fn migrate(&self) -> Result<(), PgError> {
        migrate::run(
            &self.pool,
            &self.sql.schema,
            self.migration_lock_timeout,
            self.migration_budget,
        )
        .await
    }

    /// This store inside `transaction`, a transaction the host opened on a
    /// connection to the same database (from this store's pool or any
    /// other): the same operations, run as statements of that transaction,
    /// so the invitations written become visible and durable when the host
    /// commits, together with the host's own rows, or not at all. A
    /// `deadpool_postgres::Transaction` dereferences to the
    /// `tokio_postgres::Transaction` this takes.
    ///
    /// The store runs each statement once, with no retries and no cancel
    /// when a call is dropped, under the connection's own statement timeout:
    /// see [`PgTransactionStore`] for what differs from this store.
    ///
    /// ```no_run
    /// # use invitation_core::{InvitationInput, InvitationService, Principal};
    /// # use invitation_postgres::PgStore;
    /// # async fn demo(store: PgStore, service: InvitationService, admin: Principal)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = store.pool().get().await?;
    /// let transaction = client.transaction().await?;
    /// transaction
    ///     .execute("INSERT INTO organisations (name) VALUES ($1)", &[&"acme"])
    ///     .await?;
    /// let scoped = store.in_transaction(&transaction);
    /// let mut unit = service.unit_of_work(&scoped);
    /// unit.create(&admin, InvitationInput::new().name("acme-first-admin")).await?;
    /// let events = unit.finish();
    /// transaction.commit().await?;
    /// events.publish().await;
    /// # Ok(()) }
    /// ```
    pub fn in_transaction<'t>(
        &'t self,
        transaction: &'t tokio_postgres::Transaction<'_>,
    ) -> PgTransactionStore<'t> {
        PgTransactionStore::new(self, transaction)
    }

    pub(crate) fn session(&self) -> Session<'_> {
        Session {
            sql: &self.sql,
            executor: Executor::Pool {
                pool: &self.pool,
                cancel_tls: self.cancel_tls.as_ref(),
            },
        }
    }

    pub(crate) fn statements(&self) -> &Statements {
        &self.sql
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
