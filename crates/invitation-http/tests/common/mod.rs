//! A real server on 127.0.0.1:0 and a real HTTP client, over any store.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod behaviours;
pub mod generated;
pub mod ordered;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use invitation_core::{
    Filters, FlowDesignation, FlowId, FlowSummary, InvitationService, InvitationStore, ListQuery,
    Ordering, Permission, UserId, UserSummary,
};
use invitation_http::{router, AppState};
use invitation_testkit::doubles::{PermissionTable, RecordingEvents, StaticDirectory};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub use ordered::Ordered;

/// Holds every invitation permission.
pub const ADMIN: &str = "admin-token";
/// Holds only `view_invitation`.
pub const VIEWER: &str = "viewer-token";
/// Holds every permission, but the user is inactive.
pub const INACTIVE: &str = "inactive-token";
/// Holds no permission.
pub const NOBODY: &str = "nobody-token";

pub const FLOW_SLUG: &str = "default-enrollment-flow";
pub const OTHER_FLOW_SLUG: &str = "other-enrollment";

pub const INVITATIONS: &str = "/api/v3/stages/invitation/invitations/";

/// The invitation's keys, in the order spec §2 gives them.
pub const INVITATION_KEYS: [&str; 8] = [
    "pk",
    "name",
    "expires",
    "fixed_data",
    "created_by",
    "single_use",
    "flow",
    "flow_obj",
];

/// What a response was.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn ordered(&self) -> Ordered {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self.json()
    }

    /// Asserts a `{"detail", "code"}` refusal.
    #[track_caller]
    pub fn refused(&self, status: u16, detail: &str, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json(), json!({"detail": detail, "code": code}));
        assert_eq!(self.ordered().keys(), ["detail", "code"]);
    }
}

/// A server on a free port, with a recording event sink.
pub struct Harness {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn InvitationStore>,
    pub events: Arc<RecordingEvents>,
    pub flow: FlowId,
    pub other_flow: FlowId,
    /// Run by [`Harness::finish`] (drops a test's database schema).
    pub teardown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    server: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn directory() -> StaticDirectory {
    let mut alice = UserSummary::new(UserId::new(1), "alice");
    alice.name = "Alice Example".to_owned();
    alice.email = "alice@example.org".to_owned();
    alice.uid = "a1b2".to_owned();
    alice.attributes = json!({"team": "qa"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut inactive = UserSummary::new(UserId::new(3), "carol");
    inactive.is_active = false;
    let mut flow = FlowSummary::new(
        StaticDirectory::flow_id_for(FLOW_SLUG),
        FLOW_SLUG,
        "Default enrollment",
        "Welcome!",
        FlowDesignation::Enrollment,
    );
    flow.stages = vec![uuid::Uuid::from_u128(7)];
    StaticDirectory::new()
        .with_user_summary(alice)
        .with_user(2, "bob")
        .with_user_summary(inactive)
        .with_user(4, "dave")
        .with_token(1, ADMIN)
        .with_token(2, VIEWER)
        .with_token(3, INACTIVE)
        .with_token(4, NOBODY)
        .with_flow_summary(flow)
        .with_flow(OTHER_FLOW_SLUG)
}

impl Harness {
    pub async fn start(store: Arc<dyn InvitationStore>) -> Self {
        let directory = Arc::new(directory());
        let events = Arc::new(RecordingEvents::new());
        let permissions = PermissionTable::new()
            .grant_all(1)
            .grant(2, Permission::View)
            .grant_all(3);
        let service = InvitationService::new(
            store.clone(),
            directory.clone(),
            directory.clone(),
            Arc::new(permissions),
        )
        .with_events(events.clone());
        Self::serve(AppState::new(service, directory), store, events).await
    }

    pub async fn serve(
        state: AppState,
        store: Arc<dyn InvitationStore>,
        events: Arc<RecordingEvents>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            store,
            events,
            flow: StaticDirectory::flow_id_for(FLOW_SLUG),
            other_flow: StaticDirectory::flow_id_for(OTHER_FLOW_SLUG),
            teardown: None,
            server,
        }
    }

    /// Stops the server and runs the teardown.
    pub async fn finish(mut self) {
        self.server.abort();
        if let Some(teardown) = self.teardown.take() {
            teardown.await;
        }
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::answer(request).await
    }

    /// Sends a request as the admin with extra headers; `body` as JSON.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {ADMIN}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::answer(request).await
    }

    /// Sends raw bytes with this `Authorization` header and content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(a) = authorization {
            request = request.header(AUTHORIZATION, a);
        }
        if let Some(c) = content_type {
            request = request.header(CONTENT_TYPE, c);
        }
        Self::answer(request).await
    }

    async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// Posts raw bytes to the list route as the admin.
    pub async fn post_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let authorization = format!("Bearer {ADMIN}");
        self.raw(
            Method::POST,
            INVITATIONS,
            Some(&authorization),
            content_type,
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(ADMIN), None).await
    }

    /// Creates an invitation as the admin and returns it.
    pub async fn create(&self, body: Value) -> Value {
        self.call(Method::POST, INVITATIONS, Some(ADMIN), Some(&body))
            .await
            .expect(201)
    }

    pub async fn create_named(&self, name: &str) -> String {
        let created = self.create(json!({"name": name})).await;
        created["pk"].as_str().unwrap().to_owned()
    }

    /// How many invitations storage holds.
    pub async fn stored(&self) -> u64 {
        self.store.list(&everything(0)).await.unwrap().total
    }

    /// Asserts storage is as `before` and no event was recorded since
    /// `events_before`.
    pub async fn assert_unchanged(&self, before: &Snapshot) {
        let now = self.snapshot().await;
        assert_eq!(now.rows, before.rows, "storage changed");
        assert_eq!(now.events, before.events, "an event was recorded");
    }

    pub async fn snapshot(&self) -> Snapshot {
        let mut rows: Vec<String> = self
            .store
            .list(&everything(1000))
            .await
            .unwrap()
            .items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect();
        rows.sort();
        Snapshot {
            rows,
            events: self.events.events().len(),
        }
    }
}

/// Every stored invitation, at most `limit` of them.
fn everything(limit: u64) -> ListQuery {
    ListQuery {
        filters: Filters::default(),
        search: Vec::new(),
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit,
    }
}

/// Storage and event count at one moment.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    rows: Vec<String>,
    events: usize,
}

/// Every route of spec §2 for `pk`, with a valid body where it takes one,
/// and the permission it needs.
pub fn routes(pk: &str) -> Vec<(Method, String, Option<Value>, Permission)> {
    let one = format!("{INVITATIONS}{pk}/");
    vec![
        (Method::GET, INVITATIONS.to_owned(), None, Permission::View),
        (
            Method::POST,
            INVITATIONS.to_owned(),
            Some(json!({"name": "refused"})),
            Permission::Add,
        ),
        (Method::GET, one.clone(), None, Permission::View),
        (
            Method::PUT,
            one.clone(),
            Some(json!({"name": "refused"})),
            Permission::Change,
        ),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"single_use": true})),
            Permission::Change,
        ),
        (Method::DELETE, one.clone(), None, Permission::Delete),
        (
            Method::GET,
            format!("{one}used_by/"),
            None,
            Permission::View,
        ),
    ]
}

/// Generates one `#[tokio::test]` per behaviour, each on a fresh harness
/// made by `$start` (an async expression giving a `Option<Harness>`; `None`
/// skips).
#[macro_export]
macro_rules! api_tests {
    ($start:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(harness) = $start().await else { return };
                common::behaviours::$name(&harness).await;
                harness.finish().await;
            }
        )*
    };
}
