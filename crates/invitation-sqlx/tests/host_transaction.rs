//! The host's transaction: a host signs up an organisation (a row in a
//! table of its own, in the same database file) and creates its first
//! admin's invitation through `InvitationService::unit_of_work` over
//! `SqliteStore::in_transaction`, in one transaction; the tests look at
//! what another pool sees and what the event sink got.
#![cfg(feature = "sqlite")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::sync::Arc;

use invitation_core::{
    Authorizer, CreateError, Field, FieldError, InvitationEvent, InvitationInput,
    InvitationService, InvitationStore, InvitationView, NameError, PendingEvents, Principal,
    UserId,
};
use invitation_sqlx::sqlx::{self, SqliteConnection};
use invitation_sqlx::SqliteStore;
use invitation_testkit::doubles::{AllowAll, DenyAll, RecordingEvents};
use support::TestStore;

const ADMIN: i64 = 7;

/// The host's own table.
const ORGANISATIONS: &str = "CREATE TABLE IF NOT EXISTS organisations (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
)";

#[derive(Debug, thiserror::Error)]
enum SignUpError {
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("invitation")]
    Invitation(#[from] CreateError),
}

/// Inside the host's open transaction on `connection`: the organisation
/// `name`, then the invitation for its first admin, through the service's
/// unit of work over `store` scoped to the transaction. Returns the
/// organisation's id, the invitation, and the events to publish once the
/// host has committed.
async fn sign_up(
    connection: &mut SqliteConnection,
    store: &SqliteStore,
    service: &InvitationService,
    name: &str,
) -> Result<(i64, InvitationView, PendingEvents), SignUpError> {
    let organisation: i64 =
        sqlx::query_scalar("INSERT INTO organisations (name) VALUES (?1) RETURNING id")
            .bind(name)
            .fetch_one(&mut *connection)
            .await?;
    let scoped = store.in_transaction(connection);
    let mut unit = service.unit_of_work(&scoped);
    let input = InvitationInput::new()
        .name(format!("{name}-first-admin"))
        .single_use(true)
        .fixed_data_value(serde_json::json!({"organisation": organisation, "role": "admin"}));
    let invitation = unit
        .create(&Principal::user(UserId::new(ADMIN)), input)
        .await?;
    Ok((organisation, invitation, unit.finish()))
}

/// The host: the store over a fresh file, its table, and a second store
/// with a pool of its own over the same file (another request's view).
struct Host {
    db: TestStore,
    elsewhere: TestStore,
}

impl Host {
    async fn start() -> Self {
        let db = TestStore::new().await;
        db.sql(ORGANISATIONS).await;
        let elsewhere = db.another();
        Self { db, elsewhere }
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

    /// How many organisations named `name` another pool sees.
    async fn organisations(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM organisations WHERE name = ?1")
            .bind(name)
            .fetch_one(self.elsewhere.store.pool())
            .await
            .expect("the host's table answers")
    }

    /// How many invitations another pool sees.
    async fn invitations(&self) -> u64 {
        let page = self
            .elsewhere
            .list(&invitation_core::ListQuery {
                filters: invitation_core::Filters::default(),
                search: Vec::new(),
                ordering: invitation_core::Ordering::DEFAULT,
                offset: 0,
                limit: 1,
            })
            .await
            .expect("the store answers");
        page.total
    }

    async fn assert_nothing_written(&self, name: &str, events: &RecordingEvents) {
        assert_eq!(self.organisations(name).await, 0);
        assert_eq!(self.invitations().await, 0);
        assert!(events.events().is_empty());
    }

    /// Runs `sign_up` in a transaction of the host's pool (begun
    /// `IMMEDIATE`, as a writing transaction should be) and commits it, or
    /// rolls it back when it fails.
    async fn sign_up_and_commit(
        &self,
        service: &InvitationService,
        name: &str,
    ) -> Result<(i64, InvitationView, PendingEvents), SignUpError> {
        let mut transaction = self
            .db
            .store
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("a transaction");
        match sign_up(&mut transaction, &self.db.store, service, name).await {
            Ok(done) => {
                transaction.commit().await.expect("commit");
                Ok(done)
            }
            Err(error) => {
                transaction.rollback().await.expect("rollback");
                Err(error)
            }
        }
    }
}

#[tokio::test]
async fn a_committed_sign_up_stores_both_rows_and_publishes_created_once_after_the_commit() {
    let host = Host::start().await;
    let (service, events) = host.service(Arc::new(AllowAll));

    let (organisation, view, pending) = host
        .sign_up_and_commit(&service, "acme")
        .await
        .expect("the sign-up succeeds");

    assert_eq!(host.organisations("acme").await, 1);
    let invitation = &view.invitation;
    let stored = host
        .elsewhere
        .get(invitation.id())
        .await
        .expect("get answers");
    assert_eq!(stored.as_ref(), Some(invitation));
    assert_eq!(invitation.name().as_str(), "acme-first-admin");
    assert_eq!(
        invitation.fixed_data().to_map()["organisation"],
        organisation
    );

    let created = InvitationEvent::Created {
        invitation: *invitation.id(),
        by: UserId::new(ADMIN),
    };
    assert_eq!(pending.events(), std::slice::from_ref(&created));
    assert!(
        events.events().is_empty(),
        "nothing is recorded before publish"
    );
    pending.publish().await;
    assert_eq!(events.events(), [created]);
}

#[tokio::test]
async fn a_forbidden_caller_gets_forbidden_and_the_rollback_leaves_no_row_and_no_event() {
    let host = Host::start().await;
    let (service, events) = host.service(Arc::new(DenyAll));

    let result = host.sign_up_and_commit(&service, "acme").await;

    assert!(
        matches!(result, Err(SignUpError::Invitation(CreateError::Forbidden))),
        "{result:?}"
    );
    host.assert_nothing_written("acme", &events).await;
}

#[tokio::test]
async fn invalid_input_is_invalid_and_the_rollback_leaves_no_row_and_no_event() {
    let host = Host::start().await;
    let (service, events) = host.service(Arc::new(AllowAll));

    // Its invitation would be named "not a slug!-first-admin".
    let result = host.sign_up_and_commit(&service, "not a slug!").await;

    let Err(SignUpError::Invitation(CreateError::Invalid(errors))) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    assert_eq!(
        errors.iter().collect::<Vec<_>>(),
        [(Field::Name, &FieldError::Name(NameError::NotASlug))],
        "{errors:?}"
    );
    host.assert_nothing_written("not a slug!", &events).await;
}

#[tokio::test]
async fn a_rollback_by_the_host_after_the_invitation_undoes_it_and_its_event_is_dropped() {
    let host = Host::start().await;
    let (service, events) = host.service(Arc::new(AllowAll));

    let mut transaction = host
        .db
        .store
        .pool()
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("a transaction");
    let (_, view, pending) = sign_up(&mut transaction, &host.db.store, &service, "acme")
        .await
        .expect("the sign-up succeeds");
    // The host's own next statement fails (the name is taken), so it rolls
    // the whole transaction back.
    let again = sqlx::query("INSERT INTO organisations (name) VALUES ('acme')")
        .execute(&mut *transaction)
        .await;
    assert!(again.is_err(), "{again:?}");
    transaction.rollback().await.expect("rollback");
    drop(pending);

    assert_eq!(
        host.elsewhere
            .get(view.invitation.id())
            .await
            .expect("get answers"),
        None
    );
    host.assert_nothing_written("acme", &events).await;
}

#[tokio::test]
async fn the_invitation_is_seen_inside_the_transaction_and_elsewhere_only_after_the_commit() {
    let host = Host::start().await;
    let (service, events) = host.service(Arc::new(AllowAll));

    let mut transaction = host
        .db
        .store
        .pool()
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("a transaction");
    let (_, view, pending) = sign_up(&mut transaction, &host.db.store, &service, "acme")
        .await
        .expect("the sign-up succeeds");
    let invitation = view.invitation;

    {
        let inside = host.db.store.in_transaction(&mut transaction);
        assert_eq!(
            inside.get(invitation.id()).await.expect("get answers"),
            Some(invitation.clone())
        );
    }
    assert_eq!(
        host.elsewhere
            .get(invitation.id())
            .await
            .expect("get answers"),
        None
    );
    assert_eq!(host.organisations("acme").await, 0);

    transaction.commit().await.expect("commit");
    assert_eq!(
        host.elsewhere
            .get(invitation.id())
            .await
            .expect("get answers"),
        Some(invitation)
    );
    assert_eq!(host.organisations("acme").await, 1);
    pending.publish().await;
    assert_eq!(events.events().len(), 1);
}
