//! Embedded, versioned migrations, safe when several processes start at
//! once: each run takes SQLite's write lock first (`BEGIN IMMEDIATE`,
//! waiting up to the busy timeout for another migrating process), reads
//! which versions the `migrations` table records, and applies the missing
//! ones and their records in that one transaction. A second process then
//! finds them recorded and applies nothing.

use chrono::Utc;
use sqlx::{Acquire, Connection, Executor, Sqlite};

use crate::error::SqlxError;
use crate::SqlxStore;

/// A migration: its version, what it does, and its SQL with `__PREFIX__`
/// for the table prefix.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "invitations",
        sql: include_str!("../../migrations/sqlite/0001_invitations.sql"),
    },
    Migration {
        version: 2,
        description: "mail outbox",
        sql: include_str!("../../migrations/sqlite/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        description: "row count and default-order index for lists",
        sql: include_str!("../../migrations/sqlite/0003_list.sql"),
    },
];

impl SqlxStore<Sqlite> {
    /// Creates or updates the store's tables. Safe to run at every start
    /// and from several processes at once; a version the database records
    /// but this build does not know (a newer build migrated it) is left as
    /// it is.
    ///
    /// # Errors
    /// [`SqlxError::Connect`] or [`SqlxError::Database`] when the database
    /// cannot be reached or locked (busy past the busy timeout);
    /// [`SqlxError::Migration`] when a migration fails (it is rolled back).
    pub async fn migrate(&self) -> Result<(), SqlxError> {
        let mut connection = self.pool.acquire().await.map_err(SqlxError::Connect)?;
        let connection = connection.acquire().await.map_err(SqlxError::Connect)?;
        let mut transaction = connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(SqlxError::Database)?;
        let table = self.statements().prefix.table("migrations");
        transaction
            .execute(
                format!(
                    "CREATE TABLE IF NOT EXISTS {table} ( \
                       version     INTEGER NOT NULL PRIMARY KEY, \
                       description TEXT    NOT NULL, \
                       applied_at  INTEGER NOT NULL \
                     ) STRICT"
                )
                .as_str(),
            )
            .await
            .map_err(SqlxError::Database)?;
        let applied: Vec<i64> = sqlx::query_scalar(&format!("SELECT version FROM {table}"))
            .fetch_all(&mut *transaction)
            .await
            .map_err(SqlxError::Database)?;
        for migration in MIGRATIONS {
            if applied.contains(&migration.version) {
                continue;
            }
            let failed = |source| SqlxError::Migration {
                version: migration.version,
                description: migration.description,
                source,
            };
            let sql = migration
                .sql
                .replace("__PREFIX__", self.statements().prefix.as_str());
            sqlx::raw_sql(&sql)
                .execute(&mut *transaction)
                .await
                .map_err(failed)?;
            sqlx::query(&format!(
                "INSERT INTO {table} (version, description, applied_at) VALUES (?1, ?2, ?3)"
            ))
            .bind(migration.version)
            .bind(migration.description)
            .bind(Utc::now().timestamp_micros())
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        }
        transaction.commit().await.map_err(SqlxError::Database)
    }
}
