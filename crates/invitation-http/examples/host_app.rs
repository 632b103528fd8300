//! An axum service that embeds the invitation API in its own app.
//!
//! The host has its own state, routes and 404, and authenticates its
//! callers itself, by session cookie: its middleware looks the request's
//! `session` cookie up in its own sessions and puts the signed-in user in
//! the request's extensions as a `Principal`. The invitation API, built
//! with host authentication, takes the caller from there and from nowhere
//! else: a request without a session is answered 403, whatever
//! `Authorization` header it sends. The API and its OpenAPI document are
//! mounted under `/admin`. It has no flows, and no user directory:
//! creators are shown by their ids.
//!
//! ```sh
//! cargo run -p invitation-http --example host_app
//! # then, with the session id it prints:
//! curl -s -X POST http://127.0.0.1:3000/admin/api/v3/stages/invitation/invitations/ \
//!   -b "session=$SESSION" -H 'Content-Type: application/json' -d '{"name": "welcome-bob"}'
//! curl -s http://127.0.0.1:3000/admin/api/v3/schema/
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use invitation_core::uuid::Uuid;
use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use invitation_http::{Api, AppState};
use invitation_memory::MemoryStore;

/// The host's own state.
#[derive(Clone)]
struct Host {
    name: &'static str,
    /// Session id → the signed-in user (a real host keeps them in its
    /// session store).
    sessions: Arc<HashMap<String, Principal>>,
}

/// The user of the request's `session` cookie, if the host knows that
/// session, as the caller; otherwise no caller.
async fn session_user(State(host): State<Host>, mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix("session="))
        .and_then(|id| host.sessions.get(id).copied());
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// The host's app: its page at `/`, the invitation API and its document
/// under `/admin` behind the session middleware, its own 404.
pub fn app(
    service: InvitationService,
    sessions: HashMap<String, Principal>,
) -> Result<Router, invitation_http::InvalidPrefix> {
    let host = Host {
        name: "the host",
        sessions: Arc::new(sessions),
    };
    let admin = Api::new(AppState::with_host_auth(service))
        .with_openapi()
        // The document says how callers sign in: the `session` cookie.
        .with_security_scheme(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
            "session",
        ))))
        .nested_at("/admin")?
        .into_router()
        .layer(middleware::from_fn_with_state(host.clone(), session_user));
    Ok(Router::new()
        .route(
            "/",
            get(|State(host): State<Host>| async move { host.name }),
        )
        .merge(admin)
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page") })
        .with_state(host))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One signed-in admin, user 7; the host checked that its admins may
    // administer invitations.
    let session = Uuid::new_v4().to_string();
    let sessions = HashMap::from([(session.clone(), Principal::user(UserId::new(7)))]);
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("SESSION={session}");
    axum::serve(listener, app(service, sessions)?).await?;
    Ok(())
}
