//! The adapter's own errors, and how sqlx's errors map into
//! [`StoreError`]: by sqlx's error variant, the database's error kind and
//! its numeric result code, never by message text.

use invitation_core::StoreError;

/// What opening or migrating a [`SqlxStore`](crate::SqlxStore) can fail
/// with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlxError {
    /// The table prefix is not empty nor a plain lowercase SQL identifier
    /// start.
    #[error(
        "invalid table prefix {prefix:?}: expected empty or ^[a-z_][a-z0-9_]{{0,31}}$, not starting with sqlite_"
    )]
    InvalidPrefix {
        /// The prefix given.
        prefix: String,
    },
    /// The PostgreSQL schema name is not a plain lowercase SQL identifier.
    #[error(
        "invalid schema name {name:?}: expected ^[a-z_][a-z0-9_]{{0,62}}$, not starting with pg_"
    )]
    InvalidSchema {
        /// The name given.
        name: String,
    },
    /// The database could not be opened or connected to.
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed; its transaction was rolled back, nothing of it
    /// applied.
    #[error("migration {version} ({description}) failed")]
    Migration {
        /// Its version.
        version: i64,
        /// What it does.
        description: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations kept waiting for locks other sessions hold
    /// (PostgreSQL: each try gave up after its `lock_timeout`) until their
    /// time was up.
    #[error("migrations gave up after {waited:?}: a lock stayed held by another session")]
    LockTimeout {
        /// How long they kept trying.
        waited: std::time::Duration,
        /// The last lock timeout.
        #[source]
        source: sqlx::Error,
    },
    /// The database refused a statement (outside any migration).
    #[error("the database refused a statement")]
    Database(#[source] sqlx::Error),
}

impl SqlxError {
    /// Whether retrying later may succeed (the database was busy or could
    /// not be reached, not the request wrong).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect(e)
            | Self::Migration { source: e, .. }
            | Self::LockTimeout { source: e, .. }
            | Self::Database(e) => is_unavailable(e),
            Self::InvalidPrefix { .. } | Self::InvalidSchema { .. } => false,
        }
    }
}

/// SQLite's primary result codes that mean "not now": `SQLITE_BUSY` (5,
/// another connection holds the write lock past `busy_timeout`, or a
/// snapshot is stale), `SQLITE_LOCKED` (6), `SQLITE_IOERR` (10),
/// `SQLITE_FULL` (13), `SQLITE_CANTOPEN` (14). Extended codes carry the
/// primary one in their low byte.
#[cfg(feature = "sqlite")]
const SQLITE_UNAVAILABLE: [i32; 5] = [5, 6, 10, 13, 14];

/// Whether `error` means the database cannot serve right now: the pool
/// timed out or is closed, I/O failed, the driver's worker is gone, or the
/// database answered with a busy, locked or I/O result code.
pub(crate) fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => database_unavailable(db.as_ref()),
        _ => false,
    }
}

fn database_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    sqlite_unavailable(db) || postgres_unavailable(db)
}

#[cfg(feature = "sqlite")]
fn sqlite_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::DatabaseError as _;
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| SQLITE_UNAVAILABLE.contains(&(code & 0xff)))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_unavailable(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// PostgreSQL's SQLSTATEs that mean "not now", as invitation-postgres
/// reads them: a connection exception (class 08), the server shutting
/// down or refusing connections (57P01, 57P02, 57P03, 53300), the
/// statement cancelled (57014, e.g. by `statement_timeout`), a lock not
/// granted in time (55P03), a serialization failure or deadlock (40001,
/// 40P01: rolled back, may succeed when run again).
#[cfg(feature = "postgres")]
fn postgres_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|e| {
            let code = e.code();
            code.starts_with("08")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "53300" | "57014" | "55P03" | "40001" | "40P01"
                )
        })
}

#[cfg(not(feature = "postgres"))]
fn postgres_unavailable(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// Whether `error` is the database's unique (or primary key) violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `error` as the port's error, keeping it as the source: `Unavailable`
/// when [`is_unavailable`], else `Backend`. (A unique violation is a
/// `Conflict`, which names the row: the operation that knows it maps it.)
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

/// A port error for something the adapter itself found wrong.
#[cfg(feature = "sqlite")]
pub(crate) fn backend(message: impl Into<String>) -> StoreError {
    let message: invitation_core::BoxError = message.into().into();
    StoreError::Backend(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable_and_others_are_backend() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::other("gone")),
            sqlx::Error::WorkerCrashed,
        ] {
            assert!(matches!(store_error(e), StoreError::Unavailable(_)));
        }
        let other = store_error(sqlx::Error::RowNotFound);
        assert!(matches!(other, StoreError::Backend(_)));
    }
}
