//! Shared by the test binaries: a store over a fresh database file in a
//! temporary directory that is removed with the last clone of the store.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use invitation_core::{
    async_trait, Attempt, DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch,
    InvitationStore, ListQuery, MailId, MailOutbox, QueuedMail, RedeemOutcome, StoreError,
    StoredPage, UpdateOutcome, UserId, Version,
};
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

#[async_trait]
impl InvitationStore for TestStore {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.store.insert(invitation).await
    }
    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        self.store.get(id).await
    }
    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        self.store.update(id, patch, expected).await
    }
    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        self.store.delete(id, expected).await
    }
    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        self.store.list(query).await
    }
    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        self.store.redeem(id, flow, now).await
    }
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.purge_expired(now).await
    }
    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        self.store.unbind_flow(flow).await
    }
    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        self.store.delete_created_by(user).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

#[async_trait]
impl MailOutbox for TestStore {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        self.store.enqueue(mails).await
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.store.claim(now, lease_until, limit).await
    }
    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.record(id, attempt, now).await
    }
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.purge_finished(before).await
    }
}
