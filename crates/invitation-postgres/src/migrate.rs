//! Embedded, versioned migrations.
//!
//! `migrate()` runs in one transaction that first takes a transaction-level
//! advisory lock (one key for every schema this crate manages in the
//! database), so concurrent callers, in one process or many, apply each
//! migration once and in order, and the others then find nothing to do. A
//! failed migration rolls the whole transaction back.

use deadpool_postgres::Pool;

use crate::error::PgError;
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
];

/// Creates the optional trigram search indexes when `pg_trgm` can be had;
/// run after the versioned migrations on every `migrate()`.
const SEARCH_INDEX: &str = include_str!("../migrations/search_index.sql");

/// The advisory lock key: a fixed value other applications are unlikely to
/// use (the ASCII bytes of `invitemg`).
const LOCK_KEY: i64 = 0x696e_7669_7465_6d67;

fn render(sql: &str, schema: &Schema) -> String {
    sql.replace("__SCHEMA__", &schema.quoted())
}

pub(crate) async fn run(pool: &Pool, schema: &Schema) -> Result<(), PgError> {
    let mut client = pool.get().await.map_err(PgError::Pool)?;
    let tx = client.transaction().await.map_err(PgError::Database)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(PgError::Database)?;

    // CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
    // database even when the schema exists; a host may have made the schema
    // for a role without that privilege, so only create it when missing.
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema.name()],
        )
        .await
        .map_err(PgError::Database)?
        .is_some();
    let q = schema.quoted();
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA {q}"))
            .await
            .map_err(PgError::Database)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {q}.schema_migrations ( \
           version integer PRIMARY KEY, \
           description text NOT NULL, \
           applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .await
    .map_err(PgError::Database)?;

    let applied: Vec<i32> = tx
        .query(&format!("SELECT version FROM {q}.schema_migrations"), &[])
        .await
        .map_err(PgError::Database)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(PgError::Database)?;

    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        let failed = |source| PgError::Migration {
            version: migration.version,
            description: migration.description,
            source,
        };
        tx.batch_execute(&render(migration.sql, schema))
            .await
            .map_err(failed)?;
        tx.execute(
            &format!("INSERT INTO {q}.schema_migrations (version, description) VALUES ($1, $2)"),
            &[&migration.version, &migration.description],
        )
        .await
        .map_err(failed)?;
    }

    tx.batch_execute(&render(SEARCH_INDEX, schema))
        .await
        .map_err(PgError::Database)?;
    tx.commit().await.map_err(PgError::Database)
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
            assert!(sql.contains("\"host_schema\".invitations"));
        }
        assert!(render(SEARCH_INDEX, &schema).contains("'\"host_schema\"'"));
    }
}
