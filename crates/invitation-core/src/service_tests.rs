//! Use-case tests, given / when / then, with in-file fakes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::directory::FlowDesignation;
use crate::query::StoredPage;
use crate::{Field, FieldError, InvitationInput};

// ---------------------------------------------------------------- fakes --

#[derive(Debug, Default)]
struct FakeStore {
    rows: Mutex<HashMap<InvitationId, Invitation>>,
}

impl FakeStore {
    fn len(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
    fn all(&self) -> Vec<Invitation> {
        self.rows.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl InvitationStore for FakeStore {
    async fn insert(&self, i: &Invitation) -> Result<(), StoreError> {
        self.rows.lock().unwrap().insert(*i.id(), i.clone());
        Ok(())
    }
    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        Ok(self.rows.lock().unwrap().get(id).cloned())
    }
    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        Ok(UpdateOutcome::write(
            self.rows.lock().unwrap().get_mut(id),
            patch,
            expected,
        ))
    }

    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let outcome = DeleteOutcome::check(rows.get(id), expected);
        if outcome == DeleteOutcome::Deleted {
            rows.remove(id);
        }
        Ok(outcome)
    }

    async fn list(&self, q: &ListQuery) -> Result<StoredPage, StoreError> {
        let mut rows: Vec<_> = self.all().into_iter().filter(|i| q.matches(i)).collect();
        rows.sort_by(|a, b| q.compare(a, b));
        let total = rows.len() as u64;
        let items = rows
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .collect();
        Ok(StoredPage { total, items })
    }
    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        Ok(match rows.get(id).cloned() {
            None => RedeemOutcome::NotFound,
            Some(i) if i.is_expired_at(now) => RedeemOutcome::Expired,
            Some(i) if !i.redeemable_in(flow) => RedeemOutcome::WrongFlow,
            Some(i) => {
                if i.single_use() {
                    rows.remove(id);
                }
                RedeemOutcome::Redeemed(i)
            }
        })
    }
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|_, i| !i.is_expired_at(now));
        Ok((before - rows.len()) as u64)
    }
    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let mut n = 0;
        for row in rows.values_mut().filter(|i| i.flow() == Some(flow)) {
            let mut parts = row.clone().into_parts();
            parts.flow = None;
            *row = Invitation::from_parts(parts);
            n += 1;
        }
        Ok(n)
    }
    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|_, i| i.created_by() != *user);
        Ok((before - rows.len()) as u64)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct FakeDirectory {
    users: Vec<Arc<UserSummary>>,
    flows: Vec<Arc<FlowSummary>>,
    bulk_user_calls: AtomicUsize,
    bulk_flow_calls: AtomicUsize,
    single_calls: AtomicUsize,
}

#[async_trait]
impl UserDirectory for FakeDirectory {
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError> {
        self.single_calls.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(self.users.iter().find(|u| u.pk == *id).cloned())
    }
    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError> {
        self.bulk_user_calls.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(self
            .users
            .iter()
            .filter(|u| ids.contains(&u.pk))
            .cloned()
            .collect())
    }
    async fn find_by_username(&self, name: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(self
            .users
            .iter()
            .filter(|u| u.username == name)
            .map(|u| u.pk)
            .collect())
    }
    async fn search_usernames(&self, text: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(self
            .users
            .iter()
            .filter(|u| crate::query::contains_ignore_ascii_case(&u.username, text))
            .map(|u| u.pk)
            .collect())
    }
}

#[async_trait]
impl FlowDirectory for FakeDirectory {
    async fn flow(&self, id: &FlowId) -> Result<Option<Arc<FlowSummary>>, DirectoryError> {
        self.single_calls.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(self.flows.iter().find(|f| f.pk == *id).cloned())
    }
    async fn flows(&self, ids: &[FlowId]) -> Result<Vec<Arc<FlowSummary>>, DirectoryError> {
        self.bulk_flow_calls.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(self
            .flows
            .iter()
            .filter(|f| ids.contains(&f.pk))
            .cloned()
            .collect())
    }
    async fn find_by_slug(&self, slug: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(self
            .flows
            .iter()
            .filter(|f| f.slug == slug)
            .map(|f| f.pk)
            .collect())
    }
    async fn search_slugs(&self, text: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(self
            .flows
            .iter()
            .filter(|f| crate::query::contains_ignore_ascii_case(&f.slug, text))
            .map(|f| f.pk)
            .collect())
    }
}

#[derive(Debug, Default)]
struct FakeAuthz(HashSet<(UserId, Permission)>);

#[async_trait]
impl Authorizer for FakeAuthz {
    async fn is_allowed(&self, p: &Principal, perm: Permission) -> Result<bool, AuthError> {
        Ok(self.0.contains(&(p.user_id(), perm)))
    }
}

#[derive(Debug)]
struct FakeClock(Mutex<DateTime<Utc>>);

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Debug, Default)]
struct FakeEvents(Mutex<Vec<InvitationEvent>>);

#[async_trait]
impl EventSink for FakeEvents {
    async fn record(&self, e: InvitationEvent) {
        self.0.lock().unwrap().push(e);
    }
}

// -------------------------------------------------------------- harness --

const ADMIN: UserId = UserId::new(1);
const VIEWER: UserId = UserId::new(2);
const NOBODY: UserId = UserId::new(3);

fn flow_id(n: u128) -> FlowId {
    FlowId::from_uuid(uuid::Uuid::from_u128(n))
}

struct World {
    service: InvitationService,
    store: Arc<FakeStore>,
    directory: Arc<FakeDirectory>,
    clock: Arc<FakeClock>,
    events: Arc<FakeEvents>,
}

impl World {
    fn new() -> Self {
        let store = Arc::new(FakeStore::default());
        let mut alice = UserSummary::new(ADMIN, "alice");
        alice.email = "alice@example.org".into();
        let directory = Arc::new(FakeDirectory {
            users: vec![
                Arc::new(alice),
                Arc::new(UserSummary::new(VIEWER, "victor")),
            ],
            flows: vec![
                Arc::new(FlowSummary::new(
                    flow_id(1),
                    "default-enrollment",
                    "Enroll",
                    "Welcome",
                    FlowDesignation::Enrollment,
                )),
                Arc::new(FlowSummary::new(
                    flow_id(2),
                    "partner-signup",
                    "Partners",
                    "Hi",
                    FlowDesignation::Enrollment,
                )),
            ],
            ..FakeDirectory::default()
        });
        let mut grants: HashSet<_> = Permission::ALL.into_iter().map(|p| (ADMIN, p)).collect();
        grants.insert((VIEWER, Permission::View));
        let clock = Arc::new(FakeClock(Mutex::new(
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        )));
        let events = Arc::new(FakeEvents::default());
        let service = InvitationService::new(
            store.clone(),
            directory.clone(),
            directory.clone(),
            Arc::new(FakeAuthz(grants)),
        )
        .with_clock(clock.clone())
        .with_events(events.clone());
        Self {
            service,
            store,
            directory,
            clock,
            events,
        }
    }

    fn events(&self) -> Vec<InvitationEvent> {
        self.events.0.lock().unwrap().clone()
    }

    fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    async fn create(&self, body: serde_json::Value) -> InvitationView {
        self.service
            .create(&Principal::user(ADMIN), input(body))
            .await
            .unwrap()
    }
}

/// Typed input from a JSON-shaped literal, for brevity: strings for
/// expiries (a date alone is midnight UTC) and flows.
fn input(body: serde_json::Value) -> InvitationInput {
    let mut input = InvitationInput::new();
    for (key, value) in body.as_object().cloned().unwrap_or_default() {
        input = match key.as_str() {
            "name" => input.name(value.as_str().unwrap()),
            "expires" => input.expires(value.as_str().map(|text| {
                let text = if text.len() == 10 {
                    format!("{text}T00:00:00Z")
                } else {
                    text.to_owned()
                };
                DateTime::parse_from_rfc3339(&text).unwrap().to_utc()
            })),
            "fixed_data" => input.fixed_data_value(value),
            "single_use" => input.single_use(value.as_bool().unwrap_or(value == 1)),
            "flow" => input.flow(value.as_str().map(|f| FlowId::parse(f).unwrap())),
            _ => input,
        };
    }
    input
}

// ---------------------------------------------------------------- create --

#[tokio::test]
async fn creating_stores_the_invitation_with_the_caller_as_creator_and_records_it() {
    // given
    let world = World::new();
    // when
    let view = world
        .create(
            json!({"name": "welcome", "flow": "00000000000000000000000000000001",
                       "fixed_data": {"email": "x@example.org"}, "single_use": true}),
        )
        .await;
    // then
    assert_eq!(view.invitation.created_by(), ADMIN);
    assert_eq!(view.created_by.username, "alice");
    assert_eq!(
        view.flow.as_ref().map(|f| f.slug.as_str()),
        Some("default-enrollment")
    );
    assert!(view.invitation.single_use());
    assert_eq!(world.store.all(), vec![view.invitation.clone()]);
    assert_eq!(
        world.events(),
        [InvitationEvent::Created {
            invitation: *view.invitation.id(),
            by: ADMIN
        }]
    );
}

#[tokio::test]
async fn creating_with_defaults_gives_no_expiry_empty_data_multi_use_and_no_flow() {
    let world = World::new();
    let view = world.create(json!({"name": "plain"})).await;
    let i = &view.invitation;
    assert_eq!(
        (
            i.expires(),
            i.fixed_data().to_map().len(),
            i.single_use(),
            i.flow()
        ),
        (None, 0, false, None)
    );
    assert_eq!(view.flow, None);
}

#[tokio::test]
async fn creating_without_add_permission_is_forbidden_and_writes_nothing() {
    let world = World::new();
    let result = world
        .service
        .create(&Principal::user(VIEWER), input(json!({"name": "x"})))
        .await;
    assert!(matches!(result, Err(CreateError::Forbidden)));
    assert_eq!(world.store.len(), 0);
    assert!(world.events().is_empty());
}

#[tokio::test]
async fn creating_invalid_input_reports_every_error_including_an_unknown_flow_and_writes_nothing() {
    let world = World::new();
    let result = world
        .service
        .create(
            &Principal::user(ADMIN),
            input(json!({"name": "", "flow": "00000000-0000-0000-0000-0000000000ff"})),
        )
        .await;
    let Err(CreateError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}")
    };
    assert_eq!(
        errors
            .iter()
            .map(|(f, e)| (f, e.to_string()))
            .collect::<Vec<_>>(),
        [
            (Field::Name, "This field may not be blank.".to_owned()),
            (
                Field::Flow,
                "Invalid pk \"00000000-0000-0000-0000-0000000000ff\" - object does not exist."
                    .to_owned()
            )
        ]
    );
    assert_eq!(world.store.len(), 0);
    assert!(world.events().is_empty());
}

#[tokio::test]
async fn creating_never_takes_the_pk_from_input() {
    let world = World::new();
    let view = world
        .create(json!({"name": "x", "pk": "00000000-0000-0000-0000-000000000009"}))
        .await;
    assert_ne!(
        view.invitation.id().to_string(),
        "00000000-0000-0000-0000-000000000009"
    );
}

// ------------------------------------------------------------ get / list --

#[tokio::test]
async fn getting_an_unknown_invitation_is_not_found() {
    let world = World::new();
    let id = InvitationId::from_uuid(uuid::Uuid::from_u128(77));
    assert!(matches!(
        world.service.get(&Principal::user(ADMIN), &id).await,
        Err(GetError::NotFound)
    ));
}

#[tokio::test]
async fn getting_without_view_permission_is_forbidden() {
    let world = World::new();
    let view = world.create(json!({"name": "x"})).await;
    let result = world
        .service
        .get(&Principal::user(NOBODY), view.invitation.id())
        .await;
    assert!(matches!(result, Err(GetError::Forbidden)));
}

#[tokio::test]
async fn used_by_is_empty_for_an_existing_invitation_and_not_found_otherwise() {
    let world = World::new();
    let view = world.create(json!({"name": "x"})).await;
    let caller = Principal::user(VIEWER);
    assert!(world
        .service
        .used_by(&caller, view.invitation.id())
        .await
        .unwrap()
        .is_empty());
    let other = InvitationId::from_uuid(uuid::Uuid::from_u128(5));
    assert!(matches!(
        world.service.used_by(&caller, &other).await,
        Err(GetError::NotFound)
    ));
}

#[tokio::test]
async fn a_list_page_resolves_creators_and_flows_with_one_bulk_call_each() {
    let world = World::new();
    for i in 0..30 {
        let flow = if i % 2 == 0 {
            json!("00000000-0000-0000-0000-000000000001")
        } else {
            json!("00000000-0000-0000-0000-000000000002")
        };
        world
            .create(json!({"name": format!("n{i}"), "flow": flow}))
            .await;
    }
    let singles_before = world.directory.single_calls.load(AtomicOrdering::SeqCst);
    let page = world
        .service
        .list(&Principal::user(VIEWER), &ListRequest::default())
        .await
        .unwrap();
    assert_eq!(page.results.len(), 20);
    assert!(page
        .results
        .iter()
        .all(|v| v.created_by.username == "alice" && v.flow.is_some()));
    assert_eq!(
        world.directory.bulk_user_calls.load(AtomicOrdering::SeqCst),
        1
    );
    assert_eq!(
        world.directory.bulk_flow_calls.load(AtomicOrdering::SeqCst),
        1
    );
    assert_eq!(
        world.directory.single_calls.load(AtomicOrdering::SeqCst),
        singles_before
    );
}

#[tokio::test]
async fn an_empty_list_is_page_one_of_one() {
    let world = World::new();
    let page = world
        .service
        .list(&Principal::user(VIEWER), &ListRequest::default())
        .await
        .unwrap();
    assert_eq!(
        (
            page.total,
            page.page,
            page.total_pages(),
            page.results.len()
        ),
        (0, 1, 1, 0)
    );
}

#[tokio::test]
async fn a_page_past_the_end_or_zero_is_an_invalid_page() {
    let world = World::new();
    world.create(json!({"name": "only"})).await;
    for page in [2, 0] {
        let request = ListRequest {
            page: PageNumber::Number(page),
            ..ListRequest::default()
        };
        let result = world.service.list(&Principal::user(VIEWER), &request).await;
        assert!(matches!(result, Err(ListError::InvalidPage)), "page {page}");
    }
}

#[tokio::test]
async fn page_last_shows_the_last_page() {
    let world = World::new();
    for i in 0..5 {
        world.create(json!({"name": format!("n{i}")})).await;
    }
    let request = ListRequest {
        page: PageNumber::Last,
        page_size: Some(2),
        ..ListRequest::default()
    };
    let page = world
        .service
        .list(&Principal::user(VIEWER), &request)
        .await
        .unwrap();
    assert_eq!((page.page, page.results.len()), (3, 1));
}

#[tokio::test]
async fn filters_by_creator_username_and_flow_slug_resolve_through_the_directories() {
    let world = World::new();
    world
        .create(json!({"name": "a", "flow": "00000000-0000-0000-0000-000000000002"}))
        .await;
    world.create(json!({"name": "b"})).await;
    let caller = Principal::user(VIEWER);
    let count = |q: Vec<(&'static str, &'static str)>| {
        let service = world.service.clone();
        let mut request = ListRequest::default();
        for (key, value) in q {
            let value = Some(value.to_owned());
            match key {
                "created_by__username" => request.created_by_username = value,
                "flow__slug" => request.flow_slug = value,
                "search" => request.search = value,
                "name" => request.name = value,
                _ => unreachable!("{key}"),
            }
        }
        async move { service.list(&caller, &request).await.unwrap().total }
    };
    assert_eq!(count(vec![("created_by__username", "alice")]).await, 2);
    assert_eq!(count(vec![("created_by__username", "nobody")]).await, 0);
    assert_eq!(count(vec![("flow__slug", "partner-signup")]).await, 1);
    assert_eq!(count(vec![("search", "PARTNER")]).await, 1);
    assert_eq!(count(vec![("search", "ali b")]).await, 1);
}

#[tokio::test]
async fn listing_without_view_permission_is_forbidden() {
    let world = World::new();
    let result = world
        .service
        .list(&Principal::user(NOBODY), &ListRequest::default())
        .await;
    assert!(matches!(result, Err(ListError::Forbidden)));
}

// --------------------------------------------------------------- update --

#[tokio::test]
async fn a_full_update_keeps_stored_optional_fields_it_leaves_out() {
    let world = World::new();
    let view = world
        .create(
            json!({"name": "old", "expires": "2031-01-01", "single_use": true,
                       "flow": "00000000-0000-0000-0000-000000000001", "fixed_data": {"a": 1}}),
        )
        .await;
    let updated = world
        .service
        .update(
            &Principal::user(ADMIN),
            view.invitation.id(),
            input(json!({"name": "new"})),
            None,
        )
        .await
        .unwrap();
    let (old, new) = (&view.invitation, &updated.invitation);
    assert_eq!(new.name().as_str(), "new");
    assert_eq!(
        (
            new.expires(),
            new.single_use(),
            new.flow(),
            new.fixed_data()
        ),
        (old.expires(), true, old.flow(), old.fixed_data())
    );
    assert_eq!(
        updated.flow.map(|f| f.slug.clone()),
        Some("default-enrollment".to_owned())
    );
    assert_eq!(world.store.all(), vec![new.clone()]);
    assert_eq!(
        world.events().last(),
        Some(&InvitationEvent::Updated {
            invitation: *new.id(),
            by: ADMIN
        })
    );
}

#[tokio::test]
async fn a_full_update_without_a_name_is_refused_and_changes_nothing() {
    let world = World::new();
    let view = world.create(json!({"name": "old"})).await;
    let result = world
        .service
        .update(
            &Principal::user(ADMIN),
            view.invitation.id(),
            input(json!({"single_use": true})),
            None,
        )
        .await;
    let Err(UpdateError::Invalid(errors)) = result else {
        panic!("expected Invalid")
    };
    assert_eq!(
        errors.of(Field::Name).collect::<Vec<_>>(),
        [&FieldError::Required]
    );
    assert_eq!(world.store.all(), vec![view.invitation]);
    assert_eq!(world.events().len(), 1);
}

#[tokio::test]
async fn a_partial_update_changes_only_the_fields_given_and_can_unbind_the_flow() {
    let world = World::new();
    let view = world
        .create(json!({"name": "keep", "flow": "00000000-0000-0000-0000-000000000001"}))
        .await;
    let updated = world
        .service
        .partial_update(
            &Principal::user(ADMIN),
            view.invitation.id(),
            input(json!({"flow": null, "single_use": 1})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.invitation.name().as_str(), "keep");
    assert_eq!(
        (
            updated.invitation.flow(),
            updated.invitation.single_use(),
            updated.flow
        ),
        (None, true, None)
    );
}

#[tokio::test]
async fn updating_without_change_permission_is_forbidden_and_changes_nothing() {
    let world = World::new();
    let view = world.create(json!({"name": "old"})).await;
    let result = world
        .service
        .partial_update(
            &Principal::user(VIEWER),
            view.invitation.id(),
            input(json!({"name": "new"})),
            None,
        )
        .await;
    assert!(matches!(result, Err(UpdateError::Forbidden)));
    assert_eq!(world.store.all(), vec![view.invitation]);
}

#[tokio::test]
async fn updating_an_unknown_invitation_is_not_found() {
    let world = World::new();
    let id = InvitationId::from_uuid(uuid::Uuid::from_u128(8));
    let result = world
        .service
        .partial_update(&Principal::user(ADMIN), &id, input(json!({})), None)
        .await;
    assert!(matches!(result, Err(UpdateError::NotFound)));
}

// --------------------------------------------------------------- delete --

#[tokio::test]
async fn deleting_removes_the_invitation_and_records_it() {
    let world = World::new();
    let view = world.create(json!({"name": "x"})).await;
    world
        .service
        .delete(&Principal::user(ADMIN), view.invitation.id(), None)
        .await
        .unwrap();
    assert_eq!(world.store.len(), 0);
    assert_eq!(
        world.events().last(),
        Some(&InvitationEvent::Deleted {
            invitation: *view.invitation.id(),
            by: ADMIN
        })
    );
    let again = world
        .service
        .delete(&Principal::user(ADMIN), view.invitation.id(), None)
        .await;
    assert!(matches!(again, Err(DeleteError::NotFound)));
}

#[tokio::test]
async fn deleting_without_delete_permission_is_forbidden_and_keeps_the_row() {
    let world = World::new();
    let view = world.create(json!({"name": "x"})).await;
    let result = world
        .service
        .delete(&Principal::user(VIEWER), view.invitation.id(), None)
        .await;
    assert!(matches!(result, Err(DeleteError::Forbidden)));
    assert_eq!(world.store.len(), 1);
}

// --------------------------------------------------------------- redeem --

#[tokio::test]
async fn a_token_redeems_in_dashed_simple_and_upper_case_forms_and_records_each_use() {
    let world = World::new();
    let view = world.create(json!({"name": "multi"})).await;
    let id = view.invitation.id().to_string();
    let flow = flow_id(1);
    for token in [id.clone(), id.replace('-', ""), id.to_uppercase()] {
        assert_eq!(
            world.service.redeem(&token, Some(&flow)).await.unwrap(),
            view.invitation
        );
    }
    let uses = world
        .events()
        .iter()
        .filter(|e| e.action() == "invitation_used")
        .count();
    assert_eq!(uses, 3);
}

#[tokio::test]
async fn a_malformed_or_unknown_token_is_invalid_and_records_nothing() {
    let world = World::new();
    assert!(matches!(
        world.service.redeem("not-a-token", Some(&flow_id(1))).await,
        Err(RedeemError::Malformed)
    ));
    let unknown = uuid::Uuid::from_u128(99).to_string();
    assert!(matches!(
        world.service.redeem(&unknown, Some(&flow_id(1))).await,
        Err(RedeemError::NotFound)
    ));
    assert!(world.events().is_empty());
}

#[tokio::test]
async fn expiry_is_judged_by_the_clock_at_the_moment_of_redemption() {
    let world = World::new();
    let view = world
        .create(json!({"name": "soon", "expires": "2030-01-01T01:00:00Z"}))
        .await;
    let token = view.invitation.id().to_string();
    assert!(world
        .service
        .redeem(&token, Some(&flow_id(1)))
        .await
        .is_ok());
    world.advance(Duration::hours(1));
    assert!(matches!(
        world.service.redeem(&token, Some(&flow_id(1))).await,
        Err(RedeemError::Expired)
    ));
    assert_eq!(
        world.store.len(),
        1,
        "no cleanup job is needed, and none ran"
    );
}

#[tokio::test]
async fn outside_any_flow_an_unbound_invitation_is_redeemed_and_a_bound_one_is_not() {
    let world = World::new();
    let unbound = world.create(json!({"name": "anywhere"})).await;
    let token = unbound.invitation.id().to_string();
    assert!(world.service.redeem(&token, None).await.is_ok());
    assert_eq!(
        world.events().last(),
        Some(&InvitationEvent::Used {
            invitation: *unbound.invitation.id(),
            flow: None,
        })
    );
    let bound = world
        .create(json!({"name": "bound", "flow": "00000000-0000-0000-0000-000000000001"}))
        .await;
    assert!(matches!(
        world
            .service
            .redeem(&bound.invitation.id().to_string(), None)
            .await,
        Err(RedeemError::WrongFlow)
    ));
}

#[tokio::test]
async fn a_bound_invitation_is_invalid_in_another_flow() {
    let world = World::new();
    let view = world
        .create(json!({"name": "bound", "flow": "00000000-0000-0000-0000-000000000001"}))
        .await;
    let token = view.invitation.id().to_string();
    assert!(matches!(
        world.service.redeem(&token, Some(&flow_id(2))).await,
        Err(RedeemError::WrongFlow)
    ));
    assert!(world
        .service
        .redeem(&token, Some(&flow_id(1)))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_single_use_invitation_is_consumed_by_its_first_success() {
    let world = World::new();
    let view = world
        .create(json!({"name": "once", "single_use": true}))
        .await;
    let token = view.invitation.id().to_string();
    assert!(world
        .service
        .redeem(&token, Some(&flow_id(1)))
        .await
        .is_ok());
    assert!(matches!(
        world.service.redeem(&token, Some(&flow_id(1))).await,
        Err(RedeemError::NotFound)
    ));
    assert_eq!(world.store.len(), 0);
}

#[tokio::test]
async fn redeemed_fixed_data_wins_when_merged_into_typed_data() {
    let world = World::new();
    let view = world
        .create(json!({"name": "d", "fixed_data": {"email": "fixed@example.org", "groups": ["b"]}}))
        .await;
    let invitation = world
        .service
        .redeem(&view.invitation.id().to_string(), Some(&flow_id(1)))
        .await
        .unwrap();
    let mut typed = json!({"email": "typed@example.org", "groups": ["a"]})
        .as_object()
        .cloned()
        .unwrap();
    invitation.fixed_data().merge_into(&mut typed);
    assert_eq!(
        serde_json::Value::Object(typed),
        json!({"email": "fixed@example.org", "groups": ["a", "b"]})
    );
}

// ------------------------------------------------------ purge and hooks --

#[tokio::test]
async fn purging_removes_what_the_clock_says_has_expired_and_never_a_row_without_expiry() {
    let world = World::new();
    world
        .create(json!({"name": "past", "expires": "2029-12-31T23:59:59Z"}))
        .await;
    let future = world
        .create(json!({"name": "future", "expires": "2030-06-01"}))
        .await;
    let never = world.create(json!({"name": "never"})).await;
    assert_eq!(world.service.purge_expired().await.unwrap(), 1);
    let mut left: Vec<_> = world.store.all().into_iter().map(|i| *i.id()).collect();
    left.sort();
    let mut expected = vec![*future.invitation.id(), *never.invitation.id()];
    expected.sort();
    assert_eq!(left, expected);
}

#[tokio::test]
async fn deleting_a_flow_unbinds_its_invitations() {
    let world = World::new();
    let bound = world
        .create(json!({"name": "b", "flow": "00000000-0000-0000-0000-000000000001"}))
        .await;
    assert_eq!(world.service.flow_deleted(&flow_id(1)).await.unwrap(), 1);
    let stored = world.store.all();
    assert_eq!(stored[0].id(), bound.invitation.id());
    assert_eq!(stored[0].flow(), None);
}

#[tokio::test]
async fn deleting_a_user_deletes_the_invitations_they_created() {
    let world = World::new();
    world.create(json!({"name": "a"})).await;
    world.create(json!({"name": "b"})).await;
    assert_eq!(world.service.user_deleted(&ADMIN).await.unwrap(), 2);
    assert_eq!(world.store.len(), 0);
}

// ------------------------------------------------- versions and bounds --

#[tokio::test]
async fn an_update_or_delete_expecting_an_old_version_is_refused_and_changes_nothing() {
    let world = World::new();
    let view = world.create(json!({"name": "versioned"})).await;
    let id = *view.invitation.id();
    assert_eq!(view.invitation.version(), Version::FIRST);
    let admin = Principal::user(ADMIN);
    let updated = world
        .service
        .partial_update(
            &admin,
            &id,
            input(json!({"single_use": true})),
            Some(Version::FIRST),
        )
        .await
        .unwrap();
    assert_eq!(updated.invitation.version(), Version::FIRST.next());
    let events = world.events().len();
    let stale = world
        .service
        .partial_update(
            &admin,
            &id,
            input(json!({"name": "lost"})),
            Some(Version::FIRST),
        )
        .await;
    assert!(matches!(
        stale,
        Err(UpdateError::VersionMismatch { current }) if current == Version::FIRST.next()
    ));
    let stale = world
        .service
        .delete(&admin, &id, Some(Version::FIRST))
        .await;
    assert!(matches!(stale, Err(DeleteError::VersionMismatch { .. })));
    assert_eq!(world.store.all(), vec![updated.invitation]);
    assert_eq!(world.events().len(), events);
}

#[tokio::test]
async fn a_list_request_over_the_search_bounds_is_invalid_after_the_permission_check() {
    let world = World::new();
    let request = ListRequest {
        search: Some((0..17).map(|i| format!("w{i} ")).collect()),
        ..ListRequest::default()
    };
    let refused = world.service.list(&Principal::user(VIEWER), &request).await;
    let Err(ListError::InvalidSearch { errors }) = refused else {
        panic!("expected InvalidSearch, got {refused:?}")
    };
    assert_eq!(errors, [SearchError::TooManyWords]);
    let stranger = world
        .service
        .list(&Principal::user(UserId::new(999)), &request)
        .await;
    assert!(matches!(stranger, Err(ListError::Forbidden)));
}
