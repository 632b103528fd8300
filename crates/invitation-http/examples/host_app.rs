//! An axum service that embeds the invitation API in its own app.
//!
//! The host has its own state, routes and 404, and authenticates its
//! callers itself: here a gateway in front of it sends the user's id in
//! `X-User-Id` (a session cookie would do as well). Its middleware turns
//! that into a `Principal`; the invitation routes, nested under `/admin`,
//! take the caller from there. It has no flows, and no user directory:
//! creators are shown by their ids.
//!
//! ```sh
//! cargo run -p invitation-http --example host_app
//! curl -s -X POST http://127.0.0.1:3000/admin/api/v3/stages/invitation/invitations/ \
//!   -H 'X-User-Id: 7' -H 'Content-Type: application/json' -d '{"name": "welcome-bob"}'
//! ```

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::{invitation_routes, AppState};
use invitation_memory::MemoryStore;

/// The host's own state.
#[derive(Clone)]
struct Host {
    name: &'static str,
}

/// The gateway's `X-User-Id`, as the caller; no header, no admin API.
async fn gateway_user(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get("x-user-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<i64>().ok());
    let Some(user) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    request
        .extensions_mut()
        .insert(Principal::user(UserId::new(user)));
    next.run(request).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // The host checked that the gateway's users may administer invitations.
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build();
    let admin = invitation_routes(AppState::with_host_auth(service))
        .layer(middleware::from_fn(gateway_user));
    let app = Router::new()
        .route(
            "/",
            get(|State(host): State<Host>| async move { host.name }),
        )
        .nest("/admin", admin)
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page") })
        .with_state(Host { name: "the host" });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
