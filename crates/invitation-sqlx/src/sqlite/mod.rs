//! The SQLite backend (feature `sqlite`): [`SqliteStore`] and
//! [`SqliteTransactionStore`] (also at the crate's root), and the settings
//! [`SqliteStore::open`] uses.

mod deadline;
mod list;
mod migrate;
mod outbox;
mod row;
mod statements;
mod store;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite;

use self::statements::Statements;
use crate::error::SqlxError;
use crate::prefix::Prefix;
use crate::{SqlxStore, SqlxTransactionStore};

/// The store on SQLite.
pub type SqliteStore = SqlxStore<Sqlite>;

/// [`SqliteStore`] inside a transaction of the host's.
pub type SqliteTransactionStore<'t> = SqlxTransactionStore<'t, Sqlite>;

/// How long [`SqliteStore::connect_options`] lets a statement wait for
/// another connection's write lock before it answers `SQLITE_BUSY`
/// (`StoreError::Unavailable`).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a list may run before it is interrupted
/// (`StoreError::Unavailable`): SQLite has no statement timeout, and a
/// search tests every row the filters leave, so its time grows with the
/// table. See [`SqliteStore::with_list_timeout`].
pub const DEFAULT_LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool [`SqliteStore::open`] makes: readers run in
/// parallel under WAL; writers take turns on the file whatever the size.
pub const DEFAULT_POOL_SIZE: u32 = 8;

impl SqlxStore<Sqlite> {
    /// A store over the host's pool, its tables named with
    /// [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX). The host's connections
    /// should be set up as [`connect_options`](Self::connect_options) says
    /// (WAL, a busy timeout, `synchronous`); run
    /// [`migrate`](Self::migrate) before use.
    pub fn new(pool: SqlitePool) -> Self {
        Self::build(pool, Prefix::default_prefix())
    }

    /// A store over the host's pool whose tables are named `prefix` +
    /// `invitations`, `outbox`, `counts`, `migrations`.
    ///
    /// # Errors
    /// [`SqlxError::InvalidPrefix`] unless `prefix` is empty or
    /// `^[a-z_][a-z0-9_]{0,31}$` (and not `sqlite_…`).
    pub fn with_prefix(pool: SqlitePool, prefix: &str) -> Result<Self, SqlxError> {
        Ok(Self::build(pool, Prefix::parse(prefix)?))
    }

    fn build(pool: SqlitePool, prefix: Prefix) -> Self {
        let sql = Arc::new(statements::statements(prefix));
        Self { pool, sql }
    }

    /// The store with another time limit on a list (by default
    /// [`DEFAULT_LIST_TIMEOUT`]); `None` lets a list run as long as it
    /// takes. A list is the one statement whose work grows with the table:
    /// the others find their rows through an index.
    ///
    /// The limit counts from when the statement starts on its connection
    /// (waiting for one does not count). It is kept with SQLite's progress
    /// handler, which the store sets on the connection for the statement
    /// and removes after it: a progress handler the host set on its
    /// connections (say in `after_connect`) is replaced, and gone after a
    /// list; such a host lifts the limit with `None`. A list whose caller
    /// stops waiting (its future dropped) is interrupted at once on a
    /// connection of the pool; inside the host's transaction the statement
    /// runs on to its end, the handler then doing nothing (it cannot tell
    /// the list from the host's next statement).
    #[must_use]
    pub fn with_list_timeout(mut self, limit: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.sql).list_timeout = limit;
        self
    }

    /// The time limit on a list ([`with_list_timeout`](Self::with_list_timeout)).
    pub fn list_timeout(&self) -> Option<Duration> {
        self.statements().list_timeout
    }

    /// The connection settings a server's database file wants, for a pool
    /// of the host's own (tune them further as sqlx allows):
    ///
    /// - `journal_mode = WAL`: readers do not block the writer nor it them;
    /// - `synchronous = FULL`: a commit is on disk (the WAL fsynced) before
    ///   it is acknowledged, so an acknowledged write survives a crash of
    ///   the process *and* of the machine (power loss), as the store's
    ///   contract says. `NORMAL` (fsync at checkpoints only) is faster and
    ///   still survives a crash of the process, but may lose the last
    ///   commits on power loss; a host that accepts that sets
    ///   `.synchronous(SqliteSynchronous::Normal)`;
    /// - `busy_timeout` of [`DEFAULT_BUSY_TIMEOUT`]: a writer waits that
    ///   long for another connection's (or process's) write lock;
    /// - `foreign_keys = ON` (the adapter's tables have none; for the
    ///   host's, in the same file);
    /// - the file is created when missing, by SQLite with the process's
    ///   umask (commonly `0644`; [`open`](Self::open) makes it `0600`).
    pub fn connect_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT)
            .foreign_keys(true)
    }

    /// Opens (creating it if need be) the database file at `path` with
    /// [`connect_options`](Self::connect_options) and a pool of
    /// [`DEFAULT_POOL_SIZE`] connections, and migrates it.
    ///
    /// A file it creates is readable and writable by its owner only (mode
    /// `0600` on Unix; SQLite gives its `-wal` and `-shm` files the same):
    /// an invitation's id is the secret of its link. An existing file keeps
    /// its permissions.
    ///
    /// # Errors
    /// [`SqlxError::Connect`] when the file cannot be created or opened;
    /// [`SqlxError::Migration`] when a migration fails.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqlxError> {
        let path = path.as_ref();
        create_private(path).map_err(|e| SqlxError::Connect(sqlx::Error::Io(e)))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(DEFAULT_POOL_SIZE)
            .connect_with(Self::connect_options(path))
            .await
            .map_err(SqlxError::Connect)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store in a private in-memory database, migrated: for tests and
    /// demos. Each SQLite connection to `:memory:` has a database of its
    /// own, so the pool holds exactly one connection, opened now and never
    /// closed for idleness or age (which would lose the database); callers
    /// take turns on it. The data lasts as long as the pool.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn in_memory() -> Result<Self, SqlxError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(SqlxError::Connect)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(SqlxError::Connect)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }
}

/// Creates an empty file at `path` that only its owner may read or write
/// (an empty file is an empty SQLite database), unless one is there.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl crate::sealed::Sealed for Sqlite {}

impl crate::Backend for Sqlite {
    type Statements = Statements;

    fn naming(statements: &Statements) -> (&'static str, &str) {
        ("table_prefix", statements.prefix.as_str())
    }
}

impl SqlxStore<Sqlite> {
    /// The prefix of the store's table names (`invitation_` by default).
    pub fn table_prefix(&self) -> &str {
        self.statements().prefix.as_str()
    }
}

type Query<'q> = crate::target::Statement<'q, Sqlite>;

/// The SQLite session: statements and where they run.
pub(crate) type Session<'a, 't> = crate::target::Session<'a, 't, Sqlite>;
