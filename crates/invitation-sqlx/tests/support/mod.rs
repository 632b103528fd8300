//! Shared by the test binaries: a store over a fresh database file in a
//! temporary directory that is removed with the last clone of the store.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;

use invitation_core::Invitation;
use invitation_sqlx::sqlx::sqlite::SqlitePoolOptions;
use invitation_sqlx::SqliteStore;
use tempfile::TempDir;

/// A store over `invitations.db` in a temporary directory of its own,
/// migrated; clones share the store and the directory.
#[derive(Debug, Clone)]
pub struct TestStore {
    pub store: SqliteStore,
    dir: Arc<TempDir>,
}

impl TestStore {
    /// A fresh database file, opened as a server would
    /// ([`SqliteStore::open`]).
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path().join("invitations.db"))
            .await
            .expect("the database opens and migrates");
        Self {
            store,
            dir: Arc::new(dir),
        }
    }

    /// The database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("invitations.db")
    }

    /// A second store over the same file with a pool of its own (connected
    /// lazily), as a second process would have.
    pub fn another(&self) -> Self {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_lazy_with(SqliteStore::connect_options(self.path()));
        Self {
            store: SqliteStore::new(pool),
            dir: Arc::clone(&self.dir),
        }
    }

    /// Runs `sql` on the store's pool.
    pub async fn sql(&self, sql: &str) {
        invitation_sqlx::sqlx::raw_sql(sql)
            .execute(self.store.pool())
            .await
            .expect("the statement runs");
    }
}

/// Plants the row of `invitation` with a name that is not a slug (the
/// table checks only its length): the row the corrupt-row clause needs.
pub async fn plant_corrupt(store: &SqliteStore, invitation: &Invitation) {
    invitation_sqlx::sqlx::query(
        "INSERT INTO invitation_invitations \
           (id, name, expires, fixed_data, single_use, flow, created_by, version) \
         VALUES (?1, 'not a slug', NULL, '{}', 0, NULL, ?2, 1)",
    )
    .bind(invitation.id().to_string())
    .bind(invitation.created_by().get())
    .execute(store.pool())
    .await
    .expect("the unreadable row is planted");
}

impl TestStore {
    /// The store behind this test handle.
    fn inner(&self) -> &SqliteStore {
        &self.store
    }
}

invitation_core::forward_store!(TestStore => inner);
invitation_core::forward_outbox!(TestStore => inner);
