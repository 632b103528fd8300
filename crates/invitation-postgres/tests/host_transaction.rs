//! The host's transaction, against a real PostgreSQL: the example
//! `examples/host_transaction.rs` signs up an organisation (a row in a
//! table of the host's own) and creates its first admin's invitation
//! through `InvitationService::unit_of_work` over `PgStore::in_transaction`,
//! and these tests run its `sign_up` as its `main` does, then look at what
//! other connections see and what the event sink got.
//!
//! Each test has two fresh schemas: the host's (first on its connections'
//! `search_path`, where the example's `organisations` table goes) and the
//! invitations'.
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

#[allow(dead_code)]
#[path = "../examples/host_transaction.rs"]
mod example;

use std::sync::Arc;

use deadpool_postgres::Pool;
use example::{SignUpError, SignedUp};
use invitation_core::{
    Authorizer, CreateError, Field, FieldError, InvitationEvent, InvitationName, InvitationPatch,
    InvitationService, InvitationStore, NameError, Principal, StoreError, UpdateOutcome, UserId,
};
use invitation_postgres::PgStore;
use invitation_testkit::doubles::{AllowAll, DenyAll, RecordingEvents};
use support::TestSchema;
use tokio_postgres::IsolationLevel;

const ADMIN: i64 = 7;

/// The example's host over fresh schemas, and a plain store over the
/// invitations' schema with a pool of its own: another connection, as
/// another request of the host would have.
struct Host {
    // Declared first: the pools close before the schemas are dropped.
    pool: Pool,
    store: PgStore,
    elsewhere: PgStore,
    tables: TestSchema,
    _invitations: TestSchema,
}

impl Host {
    async fn start() -> Option<Self> {
        let url = support::database().await?;
        let tables = TestSchema::new(&url);
        let invitations = TestSchema::new(&url);
        support::connect(&support::config(&url))
            .await
            .batch_execute(&format!("CREATE SCHEMA \"{}\"", tables.name()))
            .await
            .expect("the host's schema is created");
        let mut config = support::config(&url);
        config.options(format!("-c search_path={}", tables.name()));
        let pool = support::pool_for(config, 4, support::TIMEOUT);

        // As the example's `main`: the store over the host's pool, migrated,
        // and the host's table.
        let store = PgStore::with_schema(pool.clone(), invitations.name()).expect("valid schema");
        store.migrate().await.expect("migrations apply");
        pool.get()
            .await
            .expect("a connection")
            .batch_execute(example::ORGANISATIONS)
            .await
            .expect("the host's table is created");

        Some(Self {
            pool,
            store,
            elsewhere: invitations.store(2),
            tables,
            _invitations: invitations,
        })
    }

    /// The host's service over its store, as the example's `main` builds
    /// it, with `authorizer` and a sink that records the events.
    fn service(
        &self,
        authorizer: Arc<dyn Authorizer>,
    ) -> (InvitationService, Arc<RecordingEvents>) {
        let events = Arc::new(RecordingEvents::new());
        let service = InvitationService::builder(Arc::new(self.store.clone()))
            .authorizer(authorizer)
            .events(events.clone())
            .build();
        (service, events)
    }

    /// Neither the organisation `name` nor any invitation is there for
    /// another connection, and no event was recorded.
    async fn assert_nothing_written(&self, name: &str, events: &RecordingEvents) {
        assert_eq!(self.organisations(name).await, 0);
        assert_eq!(self.invitations().await, 0);
        assert!(events.events().is_empty());
    }

    /// How many organisations named `name` another connection sees.
    async fn organisations(&self, name: &str) -> i64 {
        let client = support::connect(&support::config(self.tables.url())).await;
        let sql = format!(
            "SELECT count(*) FROM \"{}\".organisations WHERE name = $1",
            self.tables.name()
        );
        client
            .query_one(&sql, &[&name])
            .await
            .expect("the host's table answers")
            .get(0)
    }

    /// How many invitations another connection sees.
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
}

fn admin() -> Principal {
    Principal::user(UserId::new(ADMIN))
}

/// Runs the example's `sign_up` in a transaction of the host's pool and
/// rolls it back when it fails, as `main` does; on success, the
/// transaction is committed.
async fn sign_up_and_commit(
    host: &Host,
    service: &InvitationService,
    name: &str,
) -> Result<(SignedUp, invitation_core::PendingEvents), SignUpError> {
    let mut client = host.pool.get().await.expect("a connection");
    let transaction = client.transaction().await.expect("a transaction");
    match example::sign_up(&transaction, &host.store, service, &admin(), name).await {
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

#[tokio::test]
async fn a_committed_sign_up_stores_both_rows_and_publishes_created_once_after_the_commit() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(AllowAll));

    let (signed_up, pending) = sign_up_and_commit(&host, &service, "acme")
        .await
        .expect("the sign-up succeeds");

    assert_eq!(host.organisations("acme").await, 1);
    let invitation = &signed_up.invitation.invitation;
    let stored = host
        .elsewhere
        .get(invitation.id())
        .await
        .expect("get answers");
    assert_eq!(stored.as_ref(), Some(invitation));
    assert_eq!(invitation.name().as_str(), "acme-first-admin");
    assert_eq!(
        invitation.fixed_data().to_map()["organisation"],
        signed_up.organisation
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
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(DenyAll));

    let result = sign_up_and_commit(&host, &service, "acme").await;

    assert!(
        matches!(result, Err(SignUpError::Invitation(CreateError::Forbidden))),
        "{result:?}"
    );
    host.assert_nothing_written("acme", &events).await;
}

#[tokio::test]
async fn invalid_input_is_invalid_and_the_rollback_leaves_no_row_and_no_event() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(AllowAll));

    // Its invitation would be named "not a slug!-first-admin".
    let result = sign_up_and_commit(&host, &service, "not a slug!").await;

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
async fn the_invitation_is_seen_inside_the_transaction_and_elsewhere_only_after_the_commit() {
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, events) = host.service(Arc::new(AllowAll));

    let mut client = host.pool.get().await.expect("a connection");
    let transaction = client.transaction().await.expect("a transaction");
    let (signed_up, pending) =
        example::sign_up(&transaction, &host.store, &service, &admin(), "acme")
            .await
            .expect("the sign-up succeeds");
    let invitation = signed_up.invitation.invitation;

    let inside = host.store.in_transaction(&transaction);
    assert_eq!(
        inside.get(invitation.id()).await.expect("get answers"),
        Some(invitation.clone())
    );
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

#[tokio::test]
async fn a_serialization_failure_is_unavailable_at_once_and_the_transaction_is_the_hosts_to_retry()
{
    let Some(host) = Host::start().await else {
        return;
    };
    let (service, _events) = host.service(Arc::new(AllowAll));
    let (signed_up, _) = sign_up_and_commit(&host, &service, "acme")
        .await
        .expect("the sign-up succeeds");
    let id = *signed_up.invitation.invitation.id();
    let rename = |name: &str| InvitationPatch {
        name: Some(InvitationName::parse(name).expect("a valid name")),
        ..InvitationPatch::default()
    };

    // The host's REPEATABLE READ transaction reads the row; another
    // connection then changes it and commits; the host's update of it is a
    // serialization failure (40001).
    let mut client = host.pool.get().await.expect("a connection");
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await
        .expect("a transaction");
    let scoped = host.store.in_transaction(&transaction);
    assert!(scoped.get(&id).await.expect("get answers").is_some());
    let elsewhere = host
        .elsewhere
        .update(&id, &rename("renamed-elsewhere"), None)
        .await;
    assert!(
        matches!(elsewhere, Ok(UpdateOutcome::Updated(_))),
        "{elsewhere:?}"
    );

    let result = scoped.update(&id, &rename("renamed-inside"), None).await;
    // Unavailable, from the statement itself: run again in the aborted
    // transaction it would have failed otherwise (25P02, a backend error).
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let next = scoped.ping().await;
    assert!(matches!(next, Err(StoreError::Backend(_))), "{next:?}");
    transaction.rollback().await.expect("rollback");

    let stored = host.elsewhere.get(&id).await.expect("get answers");
    assert_eq!(
        stored.map(|i| i.name().as_str().to_owned()).as_deref(),
        Some("renamed-elsewhere")
    );
}
