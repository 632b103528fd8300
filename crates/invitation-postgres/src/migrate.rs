//! Embedded, versioned migrations, and the optional search indexes.
//!
//! `migrate()` runs the versioned migrations in one transaction that first
//! takes a transaction-level advisory lock (one key for every schema this
//! crate manages in the database), so concurrent callers, in one process or
//! many, apply each migration once and in order, and the others then find
//! nothing to do. A failed migration rolls the whole transaction back.
//!
//! Nothing in it waits long for a lock: the transaction runs with
//! `lock_timeout`, and a lock timeout rolls it back and retries it after a
//! growing pause until the budget is spent ([`PgError::LockTimeout`]). When
//! everything is applied the transaction touches only the catalog and its
//! own bookkeeping table, never the invitations table, so a long
//! transaction holding row locks there delays no start.
//!
//! The trigram indexes are looked up in the catalog (`pg_index`), which
//! takes no lock on the table. When the migration created the table, they
//! are built inside its transaction (the table is empty). When the table
//! already has rows they are built after it with `CREATE INDEX
//! CONCURRENTLY`, which blocks no writer, under a session advisory lock so
//! that one instance builds while the others go on; an index left INVALID
//! by a build that failed is dropped (concurrently) and built again.

use std::time::{Duration, Instant};

use deadpool_postgres::{ClientWrapper, Object, Pool, PoolError};
use tokio_postgres::error::SqlState;

use crate::error::{tls_refusal, PgError};
use crate::schema::Schema;

/// One migration: its SQL holds `__SCHEMA__` where the quoted schema goes.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Never edit one that has shipped: add another.
const MIGRATIONS: &[Migration] = &[
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
const LOCK_KEY: i64 = 0x696e_7669_7465_6d67;

/// The session advisory lock key held while building search indexes
/// concurrently (`invitidx`).
const INDEX_LOCK_KEY: i64 = 0x696e_7669_7469_6478;

/// The first pause after a lock timeout; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

fn render(sql: &str, schema: &Schema) -> String {
    sql.replace("__SCHEMA__", &schema.quoted())
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

fn is_lock_timeout(error: &PgError) -> bool {
    match error {
        PgError::Database(e) | PgError::Migration { source: e, .. } => {
            e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
        }
        _ => false,
    }
}

fn lock_timeout_source(error: PgError) -> Result<tokio_postgres::Error, PgError> {
    match error {
        PgError::Database(e) | PgError::Migration { source: e, .. }
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) =>
        {
            Ok(e)
        }
        other => Err(other),
    }
}

/// A pool error, with a refused TLS certificate told apart.
fn checkout_error(error: PoolError) -> PgError {
    match &error {
        PoolError::Backend(e) if tls_refusal(e).is_some() => PgError::Certificate(error),
        _ => PgError::Pool(error),
    }
}

/// What the migration transaction found.
struct Applied {
    /// The table was created by this run (so it is empty).
    created: bool,
    /// pg_trgm's schema, quoted, when the extension is there.
    trgm: Option<String>,
}

pub(crate) async fn run(
    pool: &Pool,
    schema: &Schema,
    lock_timeout: Duration,
    budget: Duration,
) -> Result<(), PgError> {
    // A connection of its own, out of the pool: its session settings
    // (no statement_timeout for index builds) never reach another caller,
    // and it closes when migrate() returns.
    let client = Object::take(pool.get().await.map_err(checkout_error)?);
    let started = Instant::now();
    let applied = retry(started, budget, || {
        migrate_once(&client, schema, lock_timeout)
    })
    .await?;
    if let (false, Some(trgm)) = (applied.created, applied.trgm.as_deref()) {
        retry(started, budget, || {
            build_indexes_concurrently(&client, schema, trgm, lock_timeout)
        })
        .await?;
    }
    Ok(())
}

/// Runs `attempt` until it succeeds, fails other than by a lock timeout,
/// or the budget is spent.
async fn retry<T, F, Fut>(started: Instant, budget: Duration, mut attempt: F) -> Result<T, PgError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PgError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if is_lock_timeout(&error) => error,
            Err(error) => return Err(error),
        };
        if started.elapsed() + pause > budget {
            let source = lock_timeout_source(error)?;
            return Err(PgError::LockTimeout {
                waited: started.elapsed(),
                source,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

async fn migrate_once(
    client: &ClientWrapper,
    schema: &Schema,
    lock_timeout: Duration,
) -> Result<Applied, PgError> {
    // `transaction()` needs `&mut`; plain BEGIN/COMMIT on the one connection
    // does the same, and a failure below leaves it to ROLLBACK.
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = 0",
            lock_timeout.as_millis().max(1)
        ))
        .await
        .map_err(PgError::Database)?;
    let result = migrate_in_transaction(client, schema).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await.map_err(PgError::Database);
    let applied = result?;
    ended?;
    Ok(applied)
}

async fn migrate_in_transaction(
    client: &ClientWrapper,
    schema: &Schema,
) -> Result<Applied, PgError> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(PgError::Database)?;

    // CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
    // database even when the schema exists; a host may have made the schema
    // for a role without that privilege, so only create it when missing.
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema.name()],
        )
        .await
        .map_err(PgError::Database)?
        .is_some();
    let q = schema.quoted();
    if !exists {
        client
            .batch_execute(&format!("CREATE SCHEMA {q}"))
            .await
            .map_err(PgError::Database)?;
    }
    let bookkeeping = format!("{q}.schema_migrations");
    let has_bookkeeping = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&bookkeeping])
        .await
        .map_err(PgError::Database)?
        .try_get::<_, bool>(0)
        .map_err(PgError::Database)?;
    if !has_bookkeeping {
        client
            .batch_execute(&format!(
                "CREATE TABLE {bookkeeping} ( \
                   version integer PRIMARY KEY, \
                   description text NOT NULL, \
                   applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await
            .map_err(PgError::Database)?;
    }

    let applied: Vec<i32> = client
        .query(&format!("SELECT version FROM {bookkeeping}"), &[])
        .await
        .map_err(PgError::Database)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(PgError::Database)?;
    let created = !applied.contains(&1);

    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        let failed = |source| PgError::Migration {
            version: migration.version,
            description: migration.description,
            source,
        };
        client
            .batch_execute(&render(migration.sql, schema))
            .await
            .map_err(failed)?;
        client
            .execute(
                &format!("INSERT INTO {bookkeeping} (version, description) VALUES ($1, $2)"),
                &[&migration.version, &migration.description],
            )
            .await
            .map_err(failed)?;
    }

    client
        .batch_execute(SEARCH_EXTENSION)
        .await
        .map_err(PgError::Database)?;
    let trgm: Option<String> = client
        .query_opt(
            "SELECT quote_ident(n.nspname) FROM pg_catalog.pg_extension e \
               JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
              WHERE e.extname = 'pg_trgm'",
            &[],
        )
        .await
        .map_err(PgError::Database)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(PgError::Database)?;
    if let (true, Some(trgm)) = (created, trgm.as_deref()) {
        // The table is new and empty: building here costs nothing and
        // locks out no one.
        for (name, expression) in SEARCH_INDEXES {
            client
                .batch_execute(&index_sql(name, expression, schema, trgm, false))
                .await
                .map_err(PgError::Database)?;
        }
    }
    Ok(Applied { created, trgm })
}

/// Whether the index exists, and whether it is valid, from the catalog.
async fn index_state(
    client: &ClientWrapper,
    schema: &Schema,
    name: &str,
) -> Result<Option<bool>, PgError> {
    client
        .query_opt(
            "SELECT i.indisvalid FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid \
              WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema.name(), &name],
        )
        .await
        .map_err(PgError::Database)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(PgError::Database)
}

async fn build_indexes_concurrently(
    client: &ClientWrapper,
    schema: &Schema,
    trgm: &str,
    lock_timeout: Duration,
) -> Result<(), PgError> {
    let mut missing = Vec::new();
    for (name, expression) in SEARCH_INDEXES {
        match index_state(client, schema, name).await? {
            Some(true) => {}
            state => missing.push((name, expression, state.is_some())),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&INDEX_LOCK_KEY])
        .await
        .map_err(PgError::Database)?
        .try_get(0)
        .map_err(PgError::Database)?;
    if !locked {
        // Another instance is building them; search works meanwhile.
        return Ok(());
    }
    let result = async {
        client
            .batch_execute(&format!(
                "SET lock_timeout = {}; SET statement_timeout = 0",
                lock_timeout.as_millis().max(1)
            ))
            .await
            .map_err(PgError::Database)?;
        for (name, expression, invalid) in missing {
            if invalid {
                // Left by a concurrent build that failed: it is not used by
                // queries but slows every write. Build it again.
                client
                    .batch_execute(&format!(
                        "DROP INDEX CONCURRENTLY IF EXISTS {}.{name}",
                        schema.quoted()
                    ))
                    .await
                    .map_err(PgError::Database)?;
            }
            client
                .batch_execute(&index_sql(name, expression, schema, trgm, true))
                .await
                .map_err(PgError::Database)?;
        }
        Ok(())
    }
    .await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&INDEX_LOCK_KEY])
        .await
        .map_err(PgError::Database);
    result?;
    unlocked.map(|_| ())
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
            let sql = render(m.sql, &schema);
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
        let outbox = render(MIGRATIONS[3].sql, &schema);
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
}
