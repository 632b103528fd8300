//! Shared by the PostgreSQL test binaries: where the database is, a fresh
//! schema per test that is dropped afterwards, and stores over it.
//!
//! The database is `INVITATION_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`. When it cannot be reached,
//! tests fail if `CI` is set, and otherwise print one line saying they were
//! skipped and return.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::sync::{Arc, Once};
use std::time::Duration;

use invitation_core::Invitation;
use invitation_sqlx::sqlx::postgres::PgPoolOptions;
use invitation_sqlx::sqlx::{self, Connection as _, PgConnection, PgPool};
use invitation_sqlx::PostgresStore;
use uuid::Uuid;

/// Used when `INVITATION_TEST_DATABASE_URL` is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static SKIPPED: Once = Once::new();

fn database_url() -> String {
    std::env::var("INVITATION_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// The database URL when the server answers. Outside CI, when it does not,
/// prints the skip line (once per test binary) and returns `None`; in CI it
/// panics, so the run fails.
pub async fn database() -> Option<String> {
    let url = database_url();
    let probe = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await;
    match probe {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Some(url)
        }
        failure => {
            let reason = match failure {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!(
                    "PostgreSQL not reachable ({reason}); CI is set, so the PostgreSQL tests \
                     fail instead of skipping"
                );
            }
            SKIPPED.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: PostgreSQL not reachable ({reason}); set \
                     INVITATION_TEST_DATABASE_URL to run"
                );
            });
            None
        }
    }
}

/// A pool of `size` connections to `url` with the store's connection
/// settings, connected lazily.
pub fn pool(url: &str, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(PostgresStore::connect_options(url).expect("test URL parses"))
}

/// A schema of this test's own, `sqlx_test_<random>`, dropped (with
/// everything in it) when the guard is dropped.
#[derive(Debug)]
pub struct TestSchema {
    pub name: String,
    pub url: String,
}

impl TestSchema {
    pub fn new(url: &str) -> Self {
        Self {
            name: format!("sqlx_test_{}", Uuid::new_v4().simple()),
            url: url.to_owned(),
        }
    }

    /// A store with a pool of `size` connections over this schema (not
    /// migrated).
    pub fn store(&self, size: u32) -> PostgresStore {
        PostgresStore::with_schema(pool(&self.url, size), &self.name).expect("valid test schema")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop may run inside a runtime (at the end of a #[tokio::test]), so
        // the cleanup gets a thread and a small runtime of its own.
        let url = self.url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut connection = PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                let outcome = sqlx::raw_sql(&statement).execute(&mut connection).await;
                let _ = connection.close().await;
                outcome.map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test schema {} failed: {e}", self.name),
            Err(_) => eprintln!("dropping test schema {} panicked", self.name),
        }
    }
}

/// A migrated [`PostgresStore`] in a schema of its own, dropped with the
/// last clone.
#[derive(Debug, Clone)]
pub struct PgTestStore {
    // Declared first so the pool goes before the schema is dropped.
    pub store: PostgresStore,
    pub schema: Arc<TestSchema>,
}

impl PgTestStore {
    /// Another store (with a pool of its own, as another process would
    /// have) over the same schema.
    pub fn another(&self, size: u32) -> PostgresStore {
        self.schema.store(size)
    }

    /// Runs raw SQL in this store's schema (`search_path` set to it).
    pub async fn sql(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(&format!(
            "SET search_path TO \"{}\"; {sql}; RESET search_path",
            self.schema.name
        ))
        .execute(self.store.pool())
        .await
        .map(|_| ())
    }

    fn inner(&self) -> &PostgresStore {
        &self.store
    }
}

/// A fresh, migrated store with a pool of 16 connections, or `None` when
/// the tests are skipped.
pub async fn store() -> Option<PgTestStore> {
    let url = database().await?;
    let schema = TestSchema::new(&url);
    let store = schema.store(16);
    store.migrate().await.expect("migrations apply");
    Some(PgTestStore {
        store,
        schema: Arc::new(schema),
    })
}

/// Plants the row of `invitation` with a name that is not a slug (the
/// table checks only its length): the row the corrupt-row clause needs.
pub async fn plant_corrupt(db: &PgTestStore, invitation: &Invitation) {
    db.sql(&format!(
        "INSERT INTO invitations (id, name, expires, fixed_data, single_use, flow, created_by) \
         VALUES ('{}', 'not a slug', NULL, '{{}}', false, NULL, {})",
        invitation.id(),
        invitation.created_by(),
    ))
    .await
    .expect("the unreadable row is planted");
}

invitation_core::forward_store!(PgTestStore => inner);
invitation_core::forward_outbox!(PgTestStore => inner);
