//! The invitation routes inside a host's own axum app, over a real port:
//! merged next to the host's routes and fallback, nested under a prefix,
//! with the host's state type, and with callers the host authenticates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::{health_routes, invitation_routes, schema_route, AppState, INVITATIONS_PATH};
use invitation_memory::MemoryStore;
use invitation_testkit::doubles::StaticDirectory;
use serde_json::{json, Value};

/// The host's own state: the routes must not need it to be `AppState`.
#[derive(Clone)]
struct HostState {
    greeting: &'static str,
}

fn service() -> InvitationService {
    InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build()
}

/// The JSON body of the answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn the_routes_merge_and_nest_into_a_host_router_with_its_own_state_and_fallback() {
    let directory = Arc::new(
        StaticDirectory::new()
            .with_user(7, "alice")
            .with_token(7, "t"),
    );
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .users(directory.clone())
        .build();
    let state = AppState::new(service, directory);
    let app = Router::new()
        .route(
            "/",
            get(
                |axum::extract::State(host): axum::extract::State<HostState>| async move {
                    host.greeting
                },
            ),
        )
        .merge(invitation_routes(state.clone()))
        .nest("/admin", invitation_routes(state))
        .fallback(|| async { "the host's own 404" })
        .with_state(HostState { greeting: "hello" });
    let base = serve(app).await;
    let client = reqwest::Client::new();

    let home = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(home.text().await.unwrap(), "hello");
    let unknown = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(unknown.text().await.unwrap(), "the host's own 404");

    for prefix in ["", "/admin"] {
        let created = client
            .post(format!("{base}{prefix}{INVITATIONS_PATH}"))
            .bearer_auth("t")
            .json(&json!({"name": "merged"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{prefix}");
        let body: Value = created.json().await.unwrap();
        assert_eq!(body["created_by"]["username"], "alice");
    }
    let listed = json_of(
        client
            .get(format!("{base}/admin{INVITATIONS_PATH}"))
            .bearer_auth("t"),
    )
    .await;
    assert_eq!(listed["pagination"]["count"], 2, "one store behind both");
}

/// The host's middleware: every request comes from user 7.
async fn as_user_7(mut request: Request, next: Next) -> Response {
    request
        .extensions_mut()
        .insert(Principal::user(UserId::new(7)));
    next.run(request).await
}

#[tokio::test]
async fn a_principal_the_hosts_middleware_puts_in_the_extensions_is_the_caller() {
    let state = AppState::with_host_auth(service());
    let authenticated =
        serve(invitation_routes(state.clone()).layer(middleware::from_fn(as_user_7))).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{authenticated}{INVITATIONS_PATH}"))
        .json(&json!({"name": "from-the-gateway"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["created_by"]["pk"], 7);

    // Without the middleware nobody is authenticated, token or not.
    let bare = serve(invitation_routes(state)).await;
    for token in [None, Some("anything")] {
        let mut request = client.get(format!("{bare}{INVITATIONS_PATH}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "token {token:?}");
    }
}

#[tokio::test]
async fn the_schema_and_health_routes_mount_where_the_host_wants_them() {
    let state = AppState::with_host_auth(service());
    let app = Router::new()
        .merge(invitation_routes(state.clone()))
        .nest("/internal", health_routes(&state))
        .merge(schema_route(&state))
        .with_state(HostState { greeting: "unused" });
    let base = serve(app).await;
    let client = reqwest::Client::new();
    for path in ["/internal/-/health/live/", "/internal/-/health/ready/"] {
        let answer = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let document = json_of(client.get(format!("{base}/api/v3/schema/"))).await;
    assert!(document["paths"][INVITATIONS_PATH].is_object());
    let unmounted = client
        .get(format!("{base}/-/health/live/"))
        .send()
        .await
        .unwrap();
    assert_eq!(unmounted.status(), 404, "only where the host mounted it");
}
