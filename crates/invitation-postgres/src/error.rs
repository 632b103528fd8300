//! The adapter's own errors, and how driver errors map into
//! [`StoreError`] — always by kind (SQLSTATE, pool error variant, I/O
//! error), never by message text.

use deadpool_postgres::{HookError, PoolError};
use invitation_core::{InvitationId, StoreError};
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
}

impl PgError {
    /// Whether retrying later may succeed (the server or pool was
    /// unavailable, not the request wrong).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Pool(e) => pool_is_unavailable(e),
            Self::Database(e) | Self::Migration { source: e, .. } => is_unavailable(e),
            Self::InvalidSchema { .. } | Self::Config(_) | Self::Build(_) => false,
        }
    }
}

/// Whether a driver error means "the server cannot be reached right now".
pub(crate) fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return is_unavailable_state(code);
    }
    // No SQLSTATE: the error came from the client side. It is a connection
    // failure when an I/O error (refused, reset, timed out, DNS) caused it.
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn is_unavailable_state(code: &SqlState) -> bool {
    // Class 08: connection exception.
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
}

fn pool_is_unavailable(error: &PoolError) -> bool {
    match error {
        PoolError::Timeout(_) | PoolError::Closed => true,
        PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
            is_unavailable(e)
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

/// A driver error from an insert of `id`: a unique violation is a conflict.
pub(crate) fn insert_error(error: tokio_postgres::Error, id: InvitationId) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(id)
    } else {
        store_error(error)
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
