//! The adapter's own errors, and how driver errors map into
//! [`StoreError`] — always by kind (SQLSTATE, pool error variant, where the
//! error arose, the type of its cause), never by message text.

use deadpool_postgres::{HookError, PoolError};
use invitation_core::{BoxError, StoreError};
use tokio_postgres::error::SqlState;

/// What setting up or migrating a [`crate::PgStore`] can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The schema name is not a plain lowercase SQL identifier.
    #[error(
        "invalid schema name {name:?}: expected ^[a-z_][a-z0-9_]{{0,62}}$, not starting with pg_"
    )]
    InvalidSchema {
        /// The name given.
        name: String,
    },
    /// The connection URL or string cannot be read.
    #[error("invalid PostgreSQL connection configuration")]
    Config(#[source] tokio_postgres::Error),
    /// The TLS settings of the connection string cannot be used (an unknown
    /// `sslmode`, a root certificate file that cannot be read).
    #[error("invalid PostgreSQL TLS configuration")]
    Tls(#[source] BoxError),
    /// The connection pool cannot be built.
    #[error("cannot build the PostgreSQL connection pool")]
    Build(#[source] deadpool_postgres::BuildError),
    /// No connection could be had from the pool (server unreachable, pool
    /// timed out or closed).
    #[error("no PostgreSQL connection available")]
    Pool(#[source] PoolError),
    /// A migration failed; the transaction was rolled back, nothing applied.
    #[error("migration {version} ({description}) failed")]
    Migration {
        /// Its version.
        version: i32,
        /// What it does.
        description: &'static str,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server refused a statement.
    #[error("PostgreSQL refused a statement")]
    Database(#[source] tokio_postgres::Error),
    /// The server's TLS certificate was not accepted (not signed by a root
    /// in `sslrootcert`, or not for the host name under `verify-full`), or
    /// the TLS handshake failed.
    #[error("the PostgreSQL server's TLS certificate is not trusted or the TLS handshake failed")]
    Certificate(#[source] PoolError),
    /// A migration kept waiting for locks other sessions hold (each try
    /// gave up after `lock_timeout`) until its time was up.
    #[error("migrations gave up after {waited:?}: a lock on the invitation tables stayed held by another session")]
    LockTimeout {
        /// How long it kept trying.
        waited: std::time::Duration,
        /// The last lock timeout.
        #[source]
        source: tokio_postgres::Error,
    },
}

impl From<invitation_postgres_sql::InvalidSchema> for PgError {
    fn from(error: invitation_postgres_sql::InvalidSchema) -> Self {
        Self::InvalidSchema { name: error.name }
    }
}

impl PgError {
    /// Whether retrying later may succeed (the server or pool was
    /// unavailable, not the request wrong).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Pool(e) => pool_is_unavailable(e),
            Self::Database(e)
            | Self::Migration { source: e, .. }
            | Self::LockTimeout { source: e, .. } => is_unavailable(e),
            Self::InvalidSchema { .. }
            | Self::Config(_)
            | Self::Tls(_)
            | Self::Build(_)
            | Self::Certificate(_) => false,
        }
    }
}

/// Whether a driver error from a statement on an established connection
/// means "the server cannot serve this right now": the connection closed or
/// broke (class 08, an error from the socket), the server shutting down or
/// refusing connections, the statement cancelled (57014, e.g. by
/// `statement_timeout`), a lock not granted in time (55P03), or a
/// serialization failure or deadlock (40001, 40P01: the statement was
/// rolled back and may succeed when run again).
///
/// A client-side encoding or conversion error (a `ToSql` failure, a string
/// PostgreSQL cannot carry) is not: tokio-postgres reports those with an
/// `io::Error` it makes itself, which has no OS error code, whereas the
/// socket's own errors do.
pub(crate) fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return is_unavailable_state(code);
    }
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.raw_os_error().is_some())
}

/// Whether an error from making a connection (the pool's create step) means
/// the server cannot be reached right now: any I/O error on the way
/// (refused, reset, timed out, name resolution), unless TLS itself refused
/// (a certificate not trusted is a configuration error, not an outage), or a
/// SQLSTATE [`is_unavailable`] counts. A failed authentication is not.
pub(crate) fn is_unreachable(error: &tokio_postgres::Error) -> bool {
    if is_unavailable(error) {
        return true;
    }
    if error.code().is_some() || tls_refusal(error).is_some() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The rustls error inside a connection error, when TLS refused the server
/// (its certificate not trusted, the handshake failed).
pub(crate) fn tls_refusal(error: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // tokio-rustls wraps rustls errors in io::Error, whose `source()`
        // skips the wrapped error itself.
        if let Some(tls) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = cause.source();
    }
    None
}

fn is_unavailable_state(code: &SqlState) -> bool {
    // Class 08: connection exception.
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || is_transient_conflict(code)
}

/// A serialization failure or a deadlock: the server rolled the statement
/// back, and running it again may succeed.
pub(crate) fn is_transient_conflict(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
}

fn pool_is_unavailable(error: &PoolError) -> bool {
    match error {
        PoolError::Timeout(_) | PoolError::Closed => true,
        PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
            is_unreachable(e)
        }
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(HookError::Message(_)) => false,
    }
}

/// A driver error as a port error.
pub(crate) fn store_error(error: tokio_postgres::Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

/// A pool checkout error as a port error.
pub(crate) fn pool_error(error: PoolError) -> StoreError {
    if pool_is_unavailable(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}
