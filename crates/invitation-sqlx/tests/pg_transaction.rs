//! The host's transaction on PostgreSQL through sqlx.
//!
//! 1. The storage conformance suite through `PostgresStore::in_transaction`:
//!    every clause one caller can run, each inside a transaction of its own
//!    that must still be usable afterwards (no statement failed in it: a
//!    failed statement aborts a PostgreSQL transaction) and is then
//!    committed; in `READ COMMITTED` and in `SERIALIZABLE`. The clauses
//!    racing many callers run on the pool (`pg_conformance.rs`).
//! 2. A host signs up an organisation (a row in a table of its own) and
//!    creates its first admin's invitation in one transaction through
//!    `InvitationService::unit_of_work`: commit stores both and publishes
//!    the event once after it; a rollback of either leaves neither and no
//!    event; another pool sees nothing before the commit.
#![cfg(feature = "postgres")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod pg_support;

use std::sync::Arc;

use invitation_core::{
    Authorizer, CreateError, Filters, InvitationEvent, InvitationInput, InvitationService,
    InvitationStore, ListQuery, Ordering, PendingEvents, Principal, UserId,
};
use invitation_sqlx::sqlx::{self, PgConnection};
use invitation_sqlx::PostgresStore;
use invitation_testkit::conformance;
use invitation_testkit::doubles::{AllowAll, DenyAll, RecordingEvents};
use pg_support::PgTestStore;

async fn assert_usable(connection: &mut PgConnection) {
    sqlx::query("SELECT 1")
        .execute(connection)
        .await
        .expect("the transaction is still usable");
}

macro_rules! in_transaction {
    ($($clause:ident),* $(,)?) => {
        mod read_committed {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $clause() {
                    let Some(db) = pg_support::store().await else {
                        return;
                    };
                    let mut transaction = db.store.pool().begin().await.expect("a transaction");
                    conformance::$clause(&db.store.in_transaction(&mut transaction)).await;
                    assert_usable(&mut transaction).await;
                    transaction.commit().await.expect("commit");
                }
            )*
        }

        mod serializable {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $clause() {
                    let Some(db) = pg_support::store().await else {
                        return;
                    };
                    let mut transaction = db
                        .store
                        .pool()
                        .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
                        .await
                        .expect("a transaction");
                    conformance::$clause(&db.store.in_transaction(&mut transaction)).await;
                    assert_usable(&mut transaction).await;
                    transaction.commit().await.expect("commit");
                }
            )*
        }
    };
}

invitation_testkit::single_caller_clauses!(in_transaction);

const ADMIN: i64 = 7;

/// The host: a migrated store in a schema of its own with the host's
/// `organisations` table beside the invitations, and a second store with a
/// pool of its own (another request's view).
struct Host {
    db: PgTestStore,
    elsewhere: PostgresStore,
}

impl Host {
    async fn start() -> Option<Self> {
        let db = pg_support::store().await?;
        db.sql("CREATE TABLE organisations (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)")
            .await
            .expect("the host's table");
        let elsewhere = db.another(2);
        Some(Self { db, elsewhere })
    }

    fn service(
        &self,
        authorizer: Arc<dyn Authorizer>,
    ) -> (InvitationService, Arc<RecordingEvents>) {
        let events = Arc::new(RecordingEvents::new());
        let service = InvitationService::builder(Arc::new(self.db.store.clone()))
            .authorizer(authorizer)
            .events(events.clone())
            .build();
        (service, events)
    }

    fn organisations_table(&self) -> String {
        format!("\"{}\".organisations", self.db.schema.name)
    }

    /// The organisation `name`, inside the host's transaction.
    async fn insert_organisation(&self, connection: &mut PgConnection, name: &str) -> i64 {
        sqlx::query_scalar(&format!(
            "INSERT INTO {} (name) VALUES ($1) RETURNING id",
            self.organisations_table()
        ))
        .bind(name)
        .fetch_one(connection)
        .await
        .expect("the host's insert")
    }

    /// What another pool sees: organisations named `name`, invitations.
    async fn seen_elsewhere(&self, name: &str) -> (i64, u64) {
        let organisations: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE name = $1",
            self.organisations_table()
        ))
        .bind(name)
        .fetch_one(self.elsewhere.pool())
        .await
        .expect("the host's table answers");
        let page = self
            .elsewhere
            .list(&ListQuery {
                filters: Filters::default(),
                search: Vec::new(),
                ordering: Ordering::DEFAULT,
                offset: 0,
                limit: 1,
            })
            .await
            .expect("the store answers");
        (organisations, page.total)
    }

    /// In the host's open transaction: the organisation, then its first
    /// admin's invitation through the unit of work.
    async fn sign_up(
        &self,
        connection: &mut PgConnection,
        service: &InvitationService,
        name: &str,
    ) -> Result<PendingEvents, CreateError> {
        let organisation = self.insert_organisation(&mut *connection, name).await;
        let scoped = self.db.store.in_transaction(connection);
        let mut unit = service.unit_of_work(&scoped);
        unit.create(
            &Principal::user(UserId::new(ADMIN)),
            InvitationInput::new()
                .name(format!("{name}-first-admin"))
                .single_use(true)
                .fixed_data_value(serde_json::json!({"organisation": organisation})),
        )
        .await?;
        Ok(unit.finish())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_sign_up_stores_both_rows_and_publishes_created_once_after_the_commit() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(AllowAll));
    let mut transaction = host.db.store.pool().begin().await.unwrap();
    let pending = host
        .sign_up(&mut transaction, &service, "acme")
        .await
        .unwrap();
    assert_eq!(
        host.seen_elsewhere("acme").await,
        (0, 0),
        "nothing before the commit"
    );
    assert!(events.events().is_empty(), "no event before publishing");
    transaction.commit().await.unwrap();
    assert!(events.events().is_empty(), "no event before publishing");
    pending.publish().await;
    assert_eq!(host.seen_elsewhere("acme").await, (1, 1));
    let published = events.events();
    assert_eq!(published.len(), 1);
    assert!(matches!(published[0], InvitationEvent::Created { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_by_the_host_after_the_invitation_undoes_both_and_the_event_is_dropped() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(AllowAll));
    let mut transaction = host.db.store.pool().begin().await.unwrap();
    let pending = host
        .sign_up(&mut transaction, &service, "acme")
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    drop(pending);
    assert_eq!(host.seen_elsewhere("acme").await, (0, 0));
    assert!(events.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_invitation_sends_no_statement_and_the_host_rolls_back_its_own_row() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(DenyAll));
    let mut transaction = host.db.store.pool().begin().await.unwrap();
    let refused = host.sign_up(&mut transaction, &service, "acme").await;
    assert!(
        matches!(refused, Err(CreateError::Forbidden)),
        "{refused:?}"
    );
    // The refusal came before any statement of the store: the transaction
    // is the host's to go on with or, as here, roll back.
    assert_usable(&mut transaction).await;
    transaction.rollback().await.unwrap();
    assert_eq!(host.seen_elsewhere("acme").await, (0, 0));
    assert!(events.events().is_empty());
}
