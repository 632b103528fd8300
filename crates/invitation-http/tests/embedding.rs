//! The API inside a host's own axum app, over a real port: mounted under a
//! prefix next to the host's routes and fallback, with the host's state
//! type, its OpenAPI document following the mount, and callers the host
//! authenticates with its own session cookie.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::{Api, AppState, InvalidPrefix, INVITATIONS_PATH};
use invitation_memory::MemoryStore;
use invitation_testkit::doubles::StaticDirectory;
use reqwest::Method;
use serde_json::{json, Value};

/// The host's own state: the routes must not need it to be `AppState`.
#[derive(Clone)]
struct HostState {
    greeting: &'static str,
    /// Session id → the signed-in user.
    sessions: Arc<HashMap<&'static str, Principal>>,
}

impl HostState {
    fn new() -> Self {
        Self {
            greeting: "hello",
            sessions: Arc::default(),
        }
    }
}

/// The host's answer to a path nobody serves.
const HOST_404: &str = "the host's own 404";

/// A host app: its own page at `/`, `api` merged in, its own fallback.
fn host_app(api: Router<HostState>, host: HostState) -> Router {
    Router::new()
        .route(
            "/",
            get(|State(host): State<HostState>| async move { host.greeting }),
        )
        .merge(api)
        .fallback(|| async { (StatusCode::NOT_FOUND, HOST_404) })
        .with_state(host)
}

/// Alice's API token, which the directory knows.
const ALICES_TOKEN: &str = "alices-api-token";

/// Users 7 (alice) and 8 (bob); alice also has an API token.
fn directory() -> Arc<StaticDirectory> {
    Arc::new(
        StaticDirectory::new()
            .with_user(7, "alice")
            .with_user(8, "bob")
            .with_token(7, ALICES_TOKEN),
    )
}

fn service(directory: &Arc<StaticDirectory>) -> InvitationService {
    InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .users(directory.clone())
        .build()
}

/// The JSON body of the answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The status and JSON body of the answer to `request`.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// Asserts that the host's fallback, not the API, answers `GET path`.
async fn assert_host_404(client: &reqwest::Client, base: &str, path: &str) {
    let response = client
        .get(format!("{base}{path}"))
        .bearer_auth(ALICES_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "{path}");
    assert_eq!(response.text().await.unwrap(), HOST_404, "{path}");
}

#[tokio::test]
async fn nested_at_admin_the_invitation_routes_serve_crud_there_and_the_host_answers_the_rest() {
    let directory = directory();
    let state = AppState::new(service(&directory), directory);
    let api = Api::new(state).nested_at("/admin").unwrap().into_router();
    let base = serve(host_app(api, HostState::new())).await;
    let client = reqwest::Client::new();
    let invitations = format!("{base}/admin{INVITATIONS_PATH}");

    let home = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(home.text().await.unwrap(), "hello");

    let alice = |method, url: &str| client.request(method, url).bearer_auth(ALICES_TOKEN);
    let (status, created) =
        answer(alice(Method::POST, &invitations).json(&json!({"name": "nested"}))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["created_by"]["username"], "alice");
    let one = format!("{invitations}{}/", created["pk"].as_str().unwrap());

    let (status, read) = answer(alice(Method::GET, &one)).await;
    assert_eq!((status, &read["name"]), (200, &json!("nested")));
    let (status, patched) =
        answer(alice(Method::PATCH, &one).json(&json!({"name": "renamed"}))).await;
    assert_eq!((status, &patched["name"]), (200, &json!("renamed")));
    let used_by = answer(alice(Method::GET, &format!("{one}used_by/"))).await;
    assert_eq!(used_by, (200, json!([])));
    let listed = json_of(alice(Method::GET, &invitations)).await;
    assert_eq!(listed["pagination"]["count"], 1);
    let (status, _) = answer(alice(Method::DELETE, &one)).await;
    assert_eq!(status, 204);
    let (status, gone) = answer(alice(Method::GET, &one)).await;
    assert_eq!((status, &gone["code"]), (404, &json!("not_found")));

    // A route's path with another method is the API's 405, with `Allow`.
    let put = alice(Method::PUT, &invitations).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert!(put.headers().contains_key(header::ALLOW));

    // Everything else is the host's: outside the prefix, inside it, the
    // routes' unprefixed paths, and the routes not asked for.
    for path in [
        "/nowhere",
        "/admin",
        "/admin/",
        "/admin/nowhere",
        INVITATIONS_PATH,
        "/api/v3/schema/",
        "/admin/api/v3/schema/",
        "/admin/-/health/live/",
    ] {
        assert_host_404(&client, &base, path).await;
    }
}

#[tokio::test]
async fn the_document_served_under_admin_names_every_route_under_admin_and_only_those() {
    let state = AppState::with_host_auth(service(&directory()));
    let api = Api::new(state)
        .with_openapi()
        .with_health()
        .nested_at("/admin")
        .unwrap()
        .into_router();
    let base = serve(host_app(api, HostState::new())).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{base}/admin/api/v3/schema/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for listed in [
        "/admin/api/v3/stages/invitation/invitations/",
        "/admin/api/v3/stages/invitation/invitations/{pk}/",
        "/admin/api/v3/stages/invitation/invitations/{pk}/used_by/",
        "/admin/api/v3/stages/invitation/invitations/{invite_uuid}/send_email/",
        "/admin/api/v3/schema/",
        "/admin/-/health/live/",
        "/admin/-/health/ready/",
    ] {
        assert!(paths.contains(&listed), "{listed} in {paths:?}");
    }
    assert_eq!(paths.len(), 7, "{paths:?}");
    let unprefixed: Vec<&&str> = paths.iter().filter(|p| !p.starts_with("/admin/")).collect();
    assert!(unprefixed.is_empty(), "{unprefixed:?}");

    // Each listed path is served where the document says (the list asks
    // for a caller, and this host authenticates nobody).
    for path in paths.iter().filter(|path| !path.contains('{')) {
        let (status, _) = answer(client.get(format!("{base}{path}"))).await;
        let expected = if path.ends_with("/invitations/") {
            403
        } else {
            200
        };
        assert_eq!(status, expected, "{path}");
    }
    assert_host_404(&client, &base, "/api/v3/schema/").await;
    assert_host_404(&client, &base, "/-/health/live/").await;
    // The router takes no token: the document names no scheme.
    assert_eq!(security_of(&document), (None, 0), "{document}");
}

/// The document's `authentik` scheme, and how many operations require it.
fn security_of(document: &Value) -> (Option<Value>, usize) {
    let scheme = document["components"]["securitySchemes"]["authentik"].clone();
    let requiring = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter(|operation| operation.get("security").is_some())
        .count();
    ((!scheme.is_null()).then_some(scheme), requiring)
}

#[tokio::test]
async fn the_document_names_the_scheme_callers_authenticate_with() {
    use invitation_http::utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

    let directory = directory();
    let document = |api: Api| serde_json::to_value(api.openapi()).unwrap();

    let tokens = document(Api::new(AppState::new(
        service(&directory),
        directory.clone(),
    )));
    let (scheme, requiring) = security_of(&tokens);
    assert_eq!(scheme, Some(json!({"type": "http", "scheme": "bearer"})));
    assert_eq!(requiring, 8, "every invitation operation");

    let cookie = document(
        Api::new(AppState::with_host_auth(service(&directory))).with_security_scheme(
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("session"))),
        ),
    );
    let (scheme, requiring) = security_of(&cookie);
    assert_eq!(
        scheme,
        Some(json!({"type": "apiKey", "in": "cookie", "name": "session"}))
    );
    assert_eq!(requiring, 8);

    // Served as built.
    let base = serve(
        Api::new(AppState::with_host_auth(service(&directory)))
            .with_openapi()
            .with_security_scheme(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                "session",
            ))))
            .into_router(),
    )
    .await;
    let served = json_of(reqwest::Client::new().get(format!("{base}/api/v3/schema/"))).await;
    assert_eq!(security_of(&served).0, security_of(&cookie).0);
}

/// The session id in `Cookie: session=<id>`, among any other cookies.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix("session="))
}

/// The host's authentication: the signed-in user of the request's session
/// cookie, if any, is the caller; otherwise there is none.
async fn session_auth(State(host): State<HostState>, mut request: Request, next: Next) -> Response {
    let principal = session_id(request.headers()).and_then(|id| host.sessions.get(id).copied());
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

#[tokio::test]
async fn a_hosts_session_cookie_names_the_caller_and_no_client_header_is_trusted() {
    let directory = directory();
    let service = service(&directory);
    let host = HostState {
        greeting: "hello",
        sessions: Arc::new(HashMap::from([
            ("s-alice", Principal::user(UserId::new(7))),
            ("s-bob", Principal::user(UserId::new(8))),
        ])),
    };
    let api = Api::new(AppState::with_host_auth(service.clone()))
        .nested_at("/admin")
        .unwrap()
        .into_router()
        .layer(middleware::from_fn_with_state(host.clone(), session_auth));
    let base = serve(host_app(api, host)).await;
    let client = reqwest::Client::new();
    let invitations = format!("{base}/admin{INVITATIONS_PATH}");
    let create = |name: &str| client.post(&invitations).json(&json!({"name": name}));

    // A valid session cookie is the caller.
    for (cookie, name, user) in [
        ("session=s-alice", "alices", 7),
        ("theme=dark; session=s-bob", "bobs", 8),
    ] {
        let (status, created) = answer(create(name).header(header::COOKIE, cookie)).await;
        assert_eq!(status, 201, "{cookie}: {created}");
        assert_eq!(created["created_by"]["pk"], user, "{cookie}");
    }
    let listed = json_of(
        client
            .get(&invitations)
            .header(header::COOKIE, "session=s-alice"),
    )
    .await;
    assert_eq!(listed["pagination"]["count"], 2);
    let creators: Vec<(&Value, &Value)> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invitation| (&invitation["name"], &invitation["created_by"]["pk"]))
        .collect();
    assert!(
        creators.contains(&(&json!("alices"), &json!(7))),
        "{creators:?}"
    );
    assert!(
        creators.contains(&(&json!("bobs"), &json!(8))),
        "{creators:?}"
    );

    // Without a session there is no caller, whatever the client sends:
    // alice's API token (which a bearer-auth state would take, below),
    // a session id as a token, an unknown session.
    let refused = [
        (None, None, "not_authenticated"),
        (Some("session=forged"), None, "not_authenticated"),
        (Some("other=s-alice"), None, "not_authenticated"),
        (None, Some(ALICES_TOKEN), "authentication_failed"),
        (None, Some("s-alice"), "authentication_failed"),
        (
            Some("session=forged"),
            Some(ALICES_TOKEN),
            "authentication_failed",
        ),
    ];
    for (cookie, token, code) in refused {
        for request in [client.get(&invitations), create("refused")] {
            let mut request = request;
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let (status, body) = answer(request).await;
            assert_eq!(status, 403, "{cookie:?} {token:?}");
            assert_eq!(body["code"], code, "{cookie:?} {token:?}");
        }
    }
    // A session's caller is not changed by a token for someone else.
    let (status, created) = answer(
        create("bobs-again")
            .header(header::COOKIE, "session=s-bob")
            .bearer_auth(ALICES_TOKEN),
    )
    .await;
    assert_eq!((status, &created["created_by"]["pk"]), (201, &json!(8)));
    let listed = json_of(
        client
            .get(&invitations)
            .header(header::COOKIE, "session=s-bob"),
    )
    .await;
    assert_eq!(
        listed["pagination"]["count"], 3,
        "the refused wrote nothing"
    );

    // The token refused above is a good one: a state that resolves tokens
    // through the directory takes it.
    let bearer = serve(Api::new(AppState::new(service, directory)).into_router()).await;
    let (status, _) = answer(
        client
            .get(format!("{bearer}{INVITATIONS_PATH}"))
            .bearer_auth(ALICES_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_document_health_checks_and_fallback_are_served_only_when_asked_for() {
    let state = AppState::with_host_auth(service(&directory()));
    let client = reqwest::Client::new();

    let bare = serve(host_app(
        Api::new(state.clone()).into_router(),
        HostState::new(),
    ))
    .await;
    for path in ["/api/v3/schema/", "/-/health/live/", "/-/health/ready/"] {
        assert_host_404(&client, &bare, path).await;
    }

    let full = serve(
        Api::new(state)
            .with_openapi()
            .with_health()
            .with_fallback()
            .into_router(),
    )
    .await;
    for path in ["/api/v3/schema/", "/-/health/live/", "/-/health/ready/"] {
        let (status, _) = answer(client.get(format!("{full}{path}"))).await;
        assert_eq!(status, 200, "{path}");
    }
    let document = json_of(client.get(format!("{full}/api/v3/schema/"))).await;
    assert!(document["paths"][INVITATIONS_PATH].is_object());
    let (status, body) = answer(client.get(format!("{full}/nowhere"))).await;
    assert_eq!((status, &body["code"]), (404, &json!("not_found")));
}

#[test]
fn a_prefix_that_is_not_a_literal_path_is_refused_when_the_api_is_configured() {
    let state = AppState::with_host_auth(service(&directory()));
    for (prefix, refusal) in [
        ("admin", InvalidPrefix::NotAbsolute("admin".into())),
        ("/admin/", InvalidPrefix::TrailingSlash("/admin/".into())),
        (
            "/{tenant}",
            InvalidPrefix::Character {
                prefix: "/{tenant}".into(),
                character: '{',
            },
        ),
    ] {
        let refused = Api::new(state.clone()).nested_at(prefix).unwrap_err();
        assert_eq!(refused, refusal);
    }
}
