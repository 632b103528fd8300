//! The PostgreSQL backend (feature `postgres`): [`PostgresStore`] and
//! [`PostgresTransactionStore`] (also at the crate's root), on the schema,
//! migrations and statements of `invitation-postgres-sql`, the same
//! invitation-postgres runs, and the settings [`PostgresStore::connect`]
//! uses.

mod outbox;
mod row;
mod store;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use invitation_postgres_sql::migrations::{self, BoxFuture, Connection, MigrateError};
use invitation_postgres_sql::{Schema, Statements};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use crate::error::SqlxError;
use crate::{SqlxStore, SqlxTransactionStore};

pub use invitation_postgres_sql::DEFAULT_SCHEMA;

/// The store on PostgreSQL.
pub type PostgresStore = SqlxStore<Postgres>;

/// [`PostgresStore`] inside a transaction of the host's.
pub type PostgresTransactionStore<'t> = SqlxTransactionStore<'t, Postgres>;

/// The `statement_timeout` [`PostgresStore::connect_options`] sets: a
/// statement that runs longer is cancelled by the server
/// (`StoreError::Unavailable`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool [`PostgresStore::connect`] makes.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// How long a migration transaction waits for one lock before it gives up
/// and tries again ([`PostgresStore::migrate`]).
pub const DEFAULT_MIGRATION_LOCK_TIMEOUT: Duration = migrations::DEFAULT_LOCK_TIMEOUT;

/// How long [`PostgresStore::migrate`] keeps trying after lock timeouts.
pub const DEFAULT_MIGRATION_BUDGET: Duration = migrations::DEFAULT_BUDGET;

/// How long [`PostgresStore::connect`]'s pool waits for a free connection
/// (or a new one) before the call answers `StoreError::Unavailable`.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl crate::sealed::Sealed for Postgres {}

impl crate::Backend for Postgres {
    type Statements = Statements;

    fn naming(statements: &Statements) -> (&'static str, &str) {
        ("schema", statements.schema.name())
    }
}

impl SqlxStore<Postgres> {
    /// A store over the host's pool, its tables in the schema
    /// [`DEFAULT_SCHEMA`] (`invitation`), the schema invitation-postgres
    /// uses by default. Run [`migrate`](Self::migrate) before use. The
    /// host's connections should carry a `statement_timeout` (see
    /// [`connect_options`](Self::connect_options)).
    pub fn new(pool: PgPool) -> Self {
        Self::build(pool, Schema::default())
    }

    /// A store over the host's pool with its tables in `schema`.
    ///
    /// # Errors
    /// [`SqlxError::InvalidSchema`] unless `schema` matches
    /// `^[a-z_][a-z0-9_]{0,62}$` (and does not start with `pg_`).
    pub fn with_schema(pool: PgPool, schema: &str) -> Result<Self, SqlxError> {
        let schema =
            Schema::parse(schema).map_err(|e| SqlxError::InvalidSchema { name: e.name })?;
        Ok(Self::build(pool, schema))
    }

    fn build(pool: PgPool, schema: Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// The schema holding the store's tables.
    pub fn schema(&self) -> &str {
        self.statements().schema.name()
    }

    /// The connection settings for `url` (a `postgres://` URL: host, user,
    /// database, `sslmode`, `sslrootcert`) with the store's settings
    /// ([`configure`](Self::configure)), for a pool of the host's own.
    ///
    /// # Errors
    /// [`SqlxError::Connect`] when `url` cannot be read.
    pub fn connect_options(url: &str) -> Result<PgConnectOptions, SqlxError> {
        Ok(Self::configure(
            PgConnectOptions::from_str(url).map_err(SqlxError::Connect)?,
        ))
    }

    /// `options` with what the store wants of every connection: a
    /// `statement_timeout` of [`DEFAULT_STATEMENT_TIMEOUT`], so that no
    /// statement holds a connection (and its locks) for long. For settings
    /// a host has already built; tune them further as sqlx allows.
    ///
    /// TLS is what the host's sqlx is built with: this crate's `postgres`
    /// feature enables rustls with the system's root certificates
    /// (`tls-rustls-ring-native-roots`; sqlx prefers native-tls when the
    /// host enables that too). `sslmode` decides whether TLS is used and
    /// checked (`verify-full` checks the certificate and the host name).
    /// Unlike libpq, sqlx trusts an `sslrootcert` *in addition to* the
    /// system's roots, not instead of them: a host that must trust its
    /// private CA alone uses invitation-postgres, whose TLS follows libpq.
    pub fn configure(options: PgConnectOptions) -> PgConnectOptions {
        let timeout = format!("{}ms", DEFAULT_STATEMENT_TIMEOUT.as_millis());
        options.options([("statement_timeout", timeout.as_str())])
    }

    /// A store over a new pool to `url` ([`connect_options`](Self::connect_options),
    /// [`DEFAULT_POOL_SIZE`] connections, [`DEFAULT_ACQUIRE_TIMEOUT`], no
    /// test query before each checkout),
    /// its tables in [`DEFAULT_SCHEMA`], migrated.
    ///
    /// # Errors
    /// [`SqlxError::Connect`] when `url` cannot be read or the server
    /// reached; as [`migrate`](Self::migrate).
    pub async fn connect(url: &str) -> Result<Self, SqlxError> {
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_POOL_SIZE)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            // No ping before every checkout (one round trip per call): a
            // connection that broke fails its call with
            // StoreError::Unavailable instead, as with invitation-postgres's
            // pool, and the caller tries again.
            .test_before_acquire(false)
            .connect_with(Self::connect_options(url)?)
            .await
            .map_err(SqlxError::Connect)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Creates the schema if needed and applies the migrations it lacks:
    /// the procedure and migrations invitation-postgres runs
    /// (`invitation_postgres_sql::migrations`), so either adapter can
    /// migrate a database the other serves. One transaction under a
    /// database-wide advisory lock, so processes starting together (with
    /// either adapter) apply each migration once; each try waits at most
    /// [`DEFAULT_MIGRATION_LOCK_TIMEOUT`] for a lock and is retried for up
    /// to [`DEFAULT_MIGRATION_BUDGET`] ([`migrate_with_timeouts`](Self::migrate_with_timeouts)
    /// sets both); the optional `pg_trgm` search indexes are built as that
    /// module says.
    ///
    /// It runs on a connection of its own, taken out of the pool and
    /// closed afterwards (its session settings reach no other caller).
    ///
    /// # Errors
    /// [`SqlxError::Connect`] when no connection can be had;
    /// [`SqlxError::Migration`] when a migration fails (nothing of it is
    /// applied); [`SqlxError::LockTimeout`] when locks stayed held past
    /// the budget; [`SqlxError::Database`] for anything else refused.
    pub async fn migrate(&self) -> Result<(), SqlxError> {
        self.migrate_with_timeouts(DEFAULT_MIGRATION_LOCK_TIMEOUT, DEFAULT_MIGRATION_BUDGET)
            .await
    }

    /// [`migrate`](Self::migrate), each try waiting at most `lock_timeout`
    /// for a lock, and trying again until `budget` is spent.
    ///
    /// # Errors
    /// As [`migrate`](Self::migrate).
    pub async fn migrate_with_timeouts(
        &self,
        lock_timeout: Duration,
        budget: Duration,
    ) -> Result<(), SqlxError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(SqlxError::Connect)?
            .detach();
        let result = migrations::run(
            &mut Migrator(&mut connection),
            &self.statements().schema,
            lock_timeout,
            budget,
        )
        .await;
        // Closing is best effort: the migrations' outcome is what counts.
        let _ = sqlx::Connection::close(connection).await;
        result.map_err(|error| match error {
            MigrateError::Migration {
                version,
                description,
                source,
            } => SqlxError::Migration {
                version: i64::from(version),
                description,
                source,
            },
            MigrateError::LockTimeout { waited, source } => {
                SqlxError::LockTimeout { waited, source }
            }
            MigrateError::Database(source) => SqlxError::Database(source),
        })
    }
}

/// The migration procedure's connection: statements sent as simple
/// queries (`raw_sql`), their answers read as text.
struct Migrator<'a>(&'a mut PgConnection);

impl Connection for Migrator<'_> {
    type Error = sqlx::Error;

    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Self::Error>> {
        let run = sqlx::Executor::execute(&mut *self.0, sqlx::raw_sql(sql));
        Box::pin(async move { run.await.map(|_| ()) })
    }

    fn texts<'a>(
        &'a mut self,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, Self::Error>> {
        let run = sqlx::Executor::fetch_all(&mut *self.0, sqlx::raw_sql(sql));
        Box::pin(async move {
            run.await?
                .iter()
                .map(|row| row.try_get::<Option<String>, _>(0))
                .collect()
        })
    }

    fn is_lock_timeout(error: &Self::Error) -> bool {
        matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03"))
    }
}
