//! The versioned migrations, the optional search indexes, and the one
//! procedure both adapters run them with ([`run`]), over a connection each
//! adapter wraps in [`Connection`].
//!
//! [`run`] applies the migrations in one transaction that first takes a
//! transaction-level advisory lock ([`LOCK_KEY`], one key for every schema
//! these adapters manage in a database), so concurrent callers, in one
//! process or many, through either adapter, apply each migration once and
//! in order, and the others then find nothing to do. A failed migration
//! rolls the whole transaction back.
//!
//! Nothing in it waits long for a lock: the transaction runs with
//! `lock_timeout`, and a lock timeout rolls it back and retries it after a
//! growing pause until the budget is spent ([`MigrateError::LockTimeout`]).
//! When everything is applied the transaction touches only the catalog and
//! its own bookkeeping table (`<schema>.schema_migrations`), never the
//! invitations table, so a long transaction holding row locks there delays
//! no start.
//!
//! The trigram indexes are looked up in the catalog (`pg_index`), which
//! takes no lock on the table. When the migration created the table, they
//! are built inside its transaction (the table is empty). When the table
//! already has rows they are built after it with `CREATE INDEX
//! CONCURRENTLY`, which blocks no writer, under a session advisory lock
//! ([`INDEX_LOCK_KEY`]) so that one instance builds while the others go
//! on; an index left INVALID by a build that failed is dropped
//! (concurrently) and built again.
//!
//! Every value the procedure sends is written into its statement text as a
//! literal: the schema name is validated ([`Schema`]) and the rest are
//! this crate's own constants, so the connection needs no parameter
//! binding, only [`Connection::batch`] and [`Connection::texts`].

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::schema::Schema;

/// One migration: its SQL holds `__SCHEMA__` where the quoted schema goes.
#[derive(Debug)]
pub struct Migration {
    /// Its version, from 1 without gaps.
    pub version: i32,
    /// What it does, as recorded in the bookkeeping table.
    pub description: &'static str,
    sql: &'static str,
}

impl Migration {
    /// Its SQL for `schema`.
    pub fn sql(&self, schema: &Schema) -> String {
        render(self.sql, schema)
    }
}

/// Every migration, in order. Never edit one that has shipped: add another.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "invitations table, indexes, expiry text function",
        sql: include_str!("../migrations/0001_invitations.sql"),
    },
    Migration {
        version: 2,
        description: "exact row count kept by statement triggers",
        sql: include_str!("../migrations/0002_row_count.sql"),
    },
    Migration {
        version: 3,
        description: "a version per invitation, for conditional writes",
        sql: include_str!("../migrations/0003_version.sql"),
    },
    Migration {
        version: 4,
        description: "the mail outbox",
        sql: include_str!("../migrations/0004_outbox.sql"),
    },
];

/// Creates `pg_trgm` when it is missing and the role may.
const SEARCH_EXTENSION: &str = include_str!("../migrations/search_index.sql");

/// The optional trigram indexes: name, and the expression indexed (with
/// `{q}` the quoted schema, `{trgm}` pg_trgm's quoted schema).
const SEARCH_INDEXES: [(&str, &str); 2] = [
    ("invitations_name_trgm", "name {trgm}.gin_trgm_ops"),
    (
        "invitations_expires_text_trgm",
        "{q}.expires_text(expires) {trgm}.gin_trgm_ops",
    ),
];

/// The advisory lock key of the migration transaction: a fixed value other
/// applications are unlikely to use (the ASCII bytes of `invitemg`).
pub const LOCK_KEY: i64 = 0x696e_7669_7465_6d67;

/// The session advisory lock key held while building search indexes
/// concurrently (`invitidx`).
pub const INDEX_LOCK_KEY: i64 = 0x696e_7669_7469_6478;

/// How long a migration transaction waits for one lock before it gives up
/// and tries again, unless the adapter is told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`run`] keeps trying after lock timeouts, unless the adapter is
/// told otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

/// The first pause after a lock timeout; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

fn render(sql: &str, schema: &Schema) -> String {
    sql.replace("__SCHEMA__", &schema.quoted())
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn index_sql(
    name: &str,
    expression: &str,
    schema: &Schema,
    trgm: &str,
    concurrently: bool,
) -> String {
    let q = schema.quoted();
    let expression = expression.replace("{q}", &q).replace("{trgm}", trgm);
    let how = if concurrently { "CONCURRENTLY " } else { "" };
    format!("CREATE INDEX {how}IF NOT EXISTS {name} ON {q}.invitations USING gin ({expression})")
}

/// What [`Connection`]'s methods answer (boxed, so that drivers whose
/// executors are generic over lifetimes can name their futures).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A database connection as [`run`] uses it: statements sent as text, on
/// one connection of its own (session settings made here must reach no
/// other caller: take it out of the pool and close it afterwards), outside
/// any transaction when [`run`] starts.
pub trait Connection: Send {
    /// The driver's error.
    type Error: Send;

    /// Runs `sql`, one or more statements separated by `;`, without
    /// parameters (PostgreSQL's simple query protocol).
    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Self::Error>>;

    /// Runs one statement without parameters and answers its first column
    /// of every row as text (`None` for NULL); the statements [`run`] sends
    /// here select text only.
    fn texts<'a>(
        &'a mut self,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, Self::Error>>;

    /// Whether `error` is PostgreSQL's `lock_not_available` (SQLSTATE
    /// 55P03), which `lock_timeout` raises.
    fn is_lock_timeout(error: &Self::Error) -> bool;
}

/// What [`run`] can fail with, carrying the driver's error.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError<E> {
    /// A migration failed; its transaction was rolled back, nothing
    /// applied.
    #[error("migration {version} ({description}) failed")]
    Migration {
        /// Its version.
        version: i32,
        /// What it does.
        description: &'static str,
        /// The driver's error.
        source: E,
    },
    /// The migrations kept waiting for locks other sessions hold (each try
    /// gave up after `lock_timeout`) until the budget was spent.
    #[error("migrations gave up after {waited:?}: a lock stayed held by another session")]
    LockTimeout {
        /// How long it kept trying.
        waited: Duration,
        /// The last lock timeout.
        source: E,
    },
    /// Another statement failed.
    #[error("a migration statement failed")]
    Database(#[source] E),
}

impl<E> MigrateError<E> {
    fn source_error(&self) -> &E {
        match self {
            Self::Migration { source, .. } | Self::LockTimeout { source, .. } => source,
            Self::Database(source) => source,
        }
    }
}

/// What the migration transaction found.
struct Applied {
    /// The table was created by this run (so it is empty).
    created: bool,
    /// pg_trgm's schema, quoted, when the extension is there.
    trgm: Option<String>,
}

/// Creates `schema` if needed and applies the migrations it lacks, then the
/// optional search indexes, as the module's documentation says: each
/// transaction with `lock_timeout`, retried after a lock timeout until
/// `budget` is spent.
///
/// # Errors
/// [`MigrateError::Migration`] when a migration fails (nothing of it is
/// applied), [`MigrateError::LockTimeout`] when locks stayed held past the
/// budget, [`MigrateError::Database`] for any other refusal.
pub async fn run<C: Connection>(
    connection: &mut C,
    schema: &Schema,
    lock_timeout: Duration,
    budget: Duration,
) -> Result<(), MigrateError<C::Error>> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let applied = loop {
        match migrate_once(connection, schema, lock_timeout).await {
            Ok(applied) => break applied,
            Err(error) => pause = wait_or_give_up::<C>(error, started, budget, pause).await?,
        }
    };
    if let (false, Some(trgm)) = (applied.created, applied.trgm.as_deref()) {
        let mut pause = FIRST_PAUSE;
        loop {
            match build_indexes_concurrently(connection, schema, trgm, lock_timeout).await {
                Ok(()) => break,
                Err(error) => pause = wait_or_give_up::<C>(error, started, budget, pause).await?,
            }
        }
    }
    Ok(())
}

/// After a failed try: the error itself unless it is a lock timeout; a
/// lock timeout past the budget as [`MigrateError::LockTimeout`]; else
/// sleeps `pause` and answers the next one.
async fn wait_or_give_up<C: Connection>(
    error: MigrateError<C::Error>,
    started: Instant,
    budget: Duration,
    pause: Duration,
) -> Result<Duration, MigrateError<C::Error>> {
    if !C::is_lock_timeout(error.source_error()) {
        return Err(error);
    }
    if started.elapsed() + pause > budget {
        let (MigrateError::Migration { source, .. }
        | MigrateError::LockTimeout { source, .. }
        | MigrateError::Database(source)) = error;
        return Err(MigrateError::LockTimeout {
            waited: started.elapsed(),
            source,
        });
    }
    tokio::time::sleep(pause).await;
    Ok((pause * 2).min(MAX_PAUSE))
}

async fn migrate_once<C: Connection>(
    connection: &mut C,
    schema: &Schema,
    lock_timeout: Duration,
) -> Result<Applied, MigrateError<C::Error>> {
    connection
        .batch(&format!(
            "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = 0",
            lock_timeout.as_millis().max(1)
        ))
        .await
        .map_err(MigrateError::Database)?;
    let result = migrate_in_transaction(connection, schema).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = connection.batch(end).await.map_err(MigrateError::Database);
    let applied = result?;
    ended?;
    Ok(applied)
}

/// The single text `sql` answers (`None` when it answers no row or NULL).
async fn text<C: Connection>(
    connection: &mut C,
    sql: &str,
) -> Result<Option<String>, MigrateError<C::Error>> {
    let texts = connection
        .texts(sql)
        .await
        .map_err(MigrateError::Database)?;
    Ok(texts.into_iter().next().flatten())
}

async fn migrate_in_transaction<C: Connection>(
    connection: &mut C,
    schema: &Schema,
) -> Result<Applied, MigrateError<C::Error>> {
    let database = MigrateError::Database;
    connection
        .batch(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
        .await
        .map_err(database)?;

    // CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
    // database even when the schema exists; a host may have made the schema
    // for a role without that privilege, so only create it when missing.
    let name = literal(schema.name());
    let exists = text(
        connection,
        &format!("SELECT 'yes' FROM pg_catalog.pg_namespace WHERE nspname = {name}"),
    )
    .await?
    .is_some();
    let q = schema.quoted();
    if !exists {
        connection
            .batch(&format!("CREATE SCHEMA {q}"))
            .await
            .map_err(database)?;
    }
    let bookkeeping = format!("{q}.schema_migrations");
    let has_bookkeeping = text(
        connection,
        &format!(
            "SELECT (to_regclass({}) IS NOT NULL)::text",
            literal(&bookkeeping)
        ),
    )
    .await?;
    if has_bookkeeping.as_deref() != Some("true") {
        connection
            .batch(&format!(
                "CREATE TABLE {bookkeeping} ( \
                   version integer PRIMARY KEY, \
                   description text NOT NULL, \
                   applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await
            .map_err(database)?;
    }

    let applied: Vec<i32> = connection
        .texts(&format!("SELECT version::text FROM {bookkeeping}"))
        .await
        .map_err(database)?
        .into_iter()
        .flatten()
        .filter_map(|version| version.parse().ok())
        .collect();
    let created = !applied.contains(&1);

    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        let failed = |source| MigrateError::Migration {
            version: migration.version,
            description: migration.description,
            source,
        };
        connection
            .batch(&migration.sql(schema))
            .await
            .map_err(failed)?;
        connection
            .batch(&format!(
                "INSERT INTO {bookkeeping} (version, description) VALUES ({}, {})",
                migration.version,
                literal(migration.description)
            ))
            .await
            .map_err(failed)?;
    }

    connection.batch(SEARCH_EXTENSION).await.map_err(database)?;
    let trgm = text(
        connection,
        "SELECT quote_ident(n.nspname)::text FROM pg_catalog.pg_extension e \
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
          WHERE e.extname = 'pg_trgm'",
    )
    .await?;
    if let (true, Some(trgm)) = (created, trgm.as_deref()) {
        // The table is new and empty: building here costs nothing and
        // locks out no one.
        for (name, expression) in SEARCH_INDEXES {
            connection
                .batch(&index_sql(name, expression, schema, trgm, false))
                .await
                .map_err(database)?;
        }
    }
    Ok(Applied { created, trgm })
}

/// Whether the index exists, and whether it is valid, from the catalog.
async fn index_state<C: Connection>(
    connection: &mut C,
    schema: &Schema,
    name: &str,
) -> Result<Option<bool>, MigrateError<C::Error>> {
    let valid = text(
        connection,
        &format!(
            "SELECT i.indisvalid::text FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid \
              WHERE n.nspname = {} AND c.relname = {}",
            literal(schema.name()),
            literal(name)
        ),
    )
    .await?;
    Ok(valid.map(|valid| valid == "true"))
}

async fn build_indexes_concurrently<C: Connection>(
    connection: &mut C,
    schema: &Schema,
    trgm: &str,
    lock_timeout: Duration,
) -> Result<(), MigrateError<C::Error>> {
    let mut missing = Vec::new();
    for (name, expression) in SEARCH_INDEXES {
        match index_state(connection, schema, name).await? {
            Some(true) => {}
            state => missing.push((name, expression, state.is_some())),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let locked = text(
        connection,
        &format!("SELECT pg_try_advisory_lock({INDEX_LOCK_KEY})::text"),
    )
    .await?;
    if locked.as_deref() != Some("true") {
        // Another instance is building them; search works meanwhile.
        return Ok(());
    }
    let result = async {
        connection
            .batch(&format!(
                "SET lock_timeout = {}; SET statement_timeout = 0",
                lock_timeout.as_millis().max(1)
            ))
            .await
            .map_err(MigrateError::Database)?;
        for (name, expression, invalid) in missing {
            if invalid {
                // Left by a concurrent build that failed: it is not used by
                // queries but slows every write. Build it again.
                connection
                    .batch(&format!(
                        "DROP INDEX CONCURRENTLY IF EXISTS {}.{name}",
                        schema.quoted()
                    ))
                    .await
                    .map_err(MigrateError::Database)?;
            }
            connection
                .batch(&index_sql(name, expression, schema, trgm, true))
                .await
                .map_err(MigrateError::Database)?;
        }
        Ok(())
    }
    .await;
    let unlocked = connection
        .batch(&format!("SELECT pg_advisory_unlock({INDEX_LOCK_KEY})"))
        .await
        .map_err(MigrateError::Database);
    result?;
    unlocked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(m.version).unwrap(), i + 1);
        }
    }

    #[test]
    fn every_migration_names_its_objects_through_the_schema_placeholder() {
        let schema = Schema::parse("host_schema").unwrap();
        for m in MIGRATIONS {
            let sql = m.sql(&schema);
            assert!(!sql.contains("__SCHEMA__"));
            // Every table named after these words is qualified.
            for word in ["CREATE TABLE ", "ALTER TABLE ", "INSERT INTO ", " ON "] {
                for (at, _) in sql.match_indices(word) {
                    let rest = &sql[at + word.len()..];
                    let comment = sql[..at].rsplit('\n').next().unwrap().contains("--");
                    assert!(
                        comment || rest.starts_with("\"host_schema\"."),
                        "migration {}: {word:?} then {:?}",
                        m.version,
                        &rest[..rest.len().min(30)]
                    );
                }
            }
        }
        let outbox = MIGRATIONS[3].sql(&schema);
        assert!(outbox.contains("CREATE TABLE \"host_schema\".outbox"));
    }

    #[test]
    fn search_indexes_are_built_concurrently_only_when_asked() {
        let schema = Schema::parse("s").unwrap();
        let (name, expression) = SEARCH_INDEXES[1];
        assert_eq!(
            index_sql(name, expression, &schema, "public", true),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS invitations_expires_text_trgm ON \"s\".invitations \
             USING gin (\"s\".expires_text(expires) public.gin_trgm_ops)"
        );
        assert!(!index_sql(name, expression, &schema, "public", false).contains("CONCURRENTLY"));
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
        for m in MIGRATIONS {
            assert!(!m.description.contains('\\'));
        }
    }
}
