//! Shared by the test binaries: where the database is, a fresh schema per
//! test that is dropped afterwards, and pools.
//!
//! The database is `INVITATION_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`. When it cannot be reached,
//! tests fail if `CI` is set, and otherwise print one line saying they were
//! skipped and return.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

pub mod rng;

use std::io::Write as _;
use std::sync::{Arc, Once};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use invitation_postgres::PgStore;
use tokio_postgres::{Config, NoTls};
use uuid::Uuid;

/// Used when `INVITATION_TEST_DATABASE_URL` is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Pool timeouts in tests (waiting, connecting, recycling).
pub const TIMEOUT: Duration = Duration::from_secs(5);

static SKIPPED: Once = Once::new();

/// The test database's URL.
pub fn database_url() -> String {
    std::env::var("INVITATION_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The URL with any password replaced, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn probe(url: &str) -> Result<(), String> {
    let mut config: Config = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let connect = config.connect(NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(connection);
    let answer = client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    answer.map(|_| ())
}

/// The database URL when the server answers. Outside CI, when it does not,
/// prints the skip line (once per test binary) and returns `None`; in CI it
/// panics, so the run fails.
pub async fn database() -> Option<String> {
    let url = database_url();
    match probe(&url).await {
        Ok(()) => Some(url),
        Err(reason) if in_ci() => panic!(
            "PostgreSQL not reachable at {} ({reason}); CI is set, so the PostgreSQL tests fail \
             instead of skipping",
            redacted(&url)
        ),
        Err(_) => {
            SKIPPED.call_once(|| {
                // Straight to stderr: the test harness captures eprintln!.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: PostgreSQL not reachable at {}; set INVITATION_TEST_DATABASE_URL \
                     to run",
                    redacted(&url)
                );
            });
            None
        }
    }
}

/// A pool of `size` connections to `config`.
pub fn pool_for(config: Config, size: usize, timeout: Duration) -> Pool {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .expect("pool builds")
}

/// A pool of `size` connections to `url`.
pub fn pool(url: &str, size: usize) -> Pool {
    pool_for(config(url), size, TIMEOUT)
}

/// The test URL's settings, to change the user or database of.
pub fn config(url: &str) -> Config {
    let mut config: Config = url.parse().expect("test URL parses");
    config.connect_timeout(TIMEOUT);
    config
}

/// A plain connection (no pool), driven on the current runtime.
pub async fn connect(config: &Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
}

/// Runs SQL statements, one by one, on a connection of its own when
/// dropped: the cleanup of what a test made, on success and on failure.
#[derive(Debug)]
pub struct Cleanup {
    url: String,
    statements: Vec<String>,
}

impl Cleanup {
    /// Will run `statements` against `url`.
    pub fn new(url: &str, statements: Vec<String>) -> Self {
        Self {
            url: url.to_owned(),
            statements,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Drop may run inside a runtime (at the end of a #[tokio::test]), so
        // the cleanup gets a thread and a small runtime of its own.
        let url = self.url.clone();
        let statements = self.statements.clone();
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                let task = tokio::spawn(connection);
                let mut outcome = client.batch_execute("SET lock_timeout = '10s'").await;
                for statement in &statements {
                    if outcome.is_ok() {
                        outcome = client.batch_execute(statement).await;
                    }
                }
                drop(client);
                let _ = task.await;
                outcome.map_err(|e| e.to_string())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test cleanup {:?} failed: {e}", self.statements),
            Err(_) => eprintln!("test cleanup {:?} panicked", self.statements),
        }
    }
}

/// A schema of this test's own, `inv_test_<random>`, dropped (with
/// everything in it) when this guard is dropped.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
    cleanup: Cleanup,
}

impl TestSchema {
    /// A fresh name; nothing is created until a store migrates into it.
    pub fn new(url: &str) -> Self {
        let name = format!("inv_test_{}", Uuid::new_v4().simple());
        let drop = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
        Self {
            name,
            cleanup: Cleanup::new(url, vec![drop]),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.cleanup.url
    }

    /// A store of `size` connections over this schema (not migrated).
    pub fn store(&self, size: usize) -> PgStore {
        PgStore::with_schema(pool(self.url(), size), &self.name).expect("valid test schema")
    }
}

/// A migrated [`PgStore`] in a schema of its own, dropped with the last
/// clone. What the conformance suite runs against.
#[derive(Debug, Clone)]
pub struct TestStore {
    // Declared first so the pool closes before the schema is dropped.
    pub store: PgStore,
    pub schema: Arc<TestSchema>,
}

impl TestStore {
    /// Another store (with a pool of its own, as another process would
    /// have) over the same schema.
    pub fn another(&self, size: usize) -> PgStore {
        self.schema.store(size)
    }

    /// Runs raw SQL in this store's schema (`search_path` set to it).
    pub async fn sql(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let client = self.store.pool().get().await.expect("connection");
        client
            .batch_execute(&format!(
                "SET search_path TO \"{}\"; {sql}; RESET search_path",
                self.schema.name()
            ))
            .await
    }
}

/// A fresh, migrated store with a pool of 16 connections, or `None` when the
/// tests are skipped.
pub async fn store() -> Option<TestStore> {
    let url = database().await?;
    let schema = TestSchema::new(&url);
    let store = schema.store(16);
    store.migrate().await.expect("migrations apply");
    Some(TestStore {
        store,
        schema: Arc::new(schema),
    })
}

impl TestStore {
    /// The store behind this test handle.
    fn inner(&self) -> &PgStore {
        &self.store
    }
}

invitation_core::forward_store!(TestStore => inner);
invitation_core::forward_outbox!(TestStore => inner);
