#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod body;
mod error;
mod handlers;
mod log;
mod openapi;
mod render;
mod wire;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use invitation_core::{Authenticator, InvitationService};
use tower_http::catch_panic::CatchPanicLayer;

pub use openapi::openapi;

/// The largest request body accepted, in bytes (1 MiB). A larger body is
/// answered `413 {"detail": "Request body too large.", "code": "too_large"}`
/// and nothing is stored.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The base path of every invitation route.
pub const INVITATIONS_PATH: &str = "/api/v3/stages/invitation/invitations/";

/// What every request handler shares: the use cases and the token port.
/// Cheap to clone (one reference count: axum clones it for every request).
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    service: InvitationService,
    authenticator: Arc<dyn Authenticator>,
    schema: Arc<[u8]>,
}

impl AppState {
    /// Serves `service`, resolving `Authorization: Bearer <token>` headers
    /// with `authenticator`.
    pub fn new(service: InvitationService, authenticator: Arc<dyn Authenticator>) -> Self {
        Self {
            shared: Arc::new(Shared {
                service,
                authenticator,
                schema: openapi::rendered(),
            }),
        }
    }

    /// The use cases this state serves.
    pub fn service(&self) -> &InvitationService {
        &self.shared.service
    }
}

/// The whole API as an axum router: the invitation routes of authentik's
/// `/api/v3/stages/invitation/invitations/`, the OpenAPI document at
/// `/api/v3/schema/`, and the health checks at `/-/health/live/` and
/// `/-/health/ready/`. Every other path answers a JSON 404, every other
/// method a JSON 405, and every request is logged once (target
/// `invitation_http::access`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v3/stages/invitation/invitations/",
            get(handlers::list).post(handlers::create),
        )
        .route(
            "/api/v3/stages/invitation/invitations/{pk}/",
            get(handlers::retrieve)
                .put(handlers::update)
                .patch(handlers::partial_update)
                .delete(handlers::destroy),
        )
        .route(
            "/api/v3/stages/invitation/invitations/{pk}/used_by/",
            get(handlers::used_by),
        )
        .route("/api/v3/schema/", get(handlers::schema))
        .route("/-/health/live/", get(handlers::live))
        .route("/-/health/ready/", get(handlers::ready))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // One `layer` call for both: axum boxes every route again per call
        // (and clones the box per request).
        .layer(
            tower::ServiceBuilder::new()
                .layer(log::AccessLogLayer)
                .layer(CatchPanicLayer::custom(error::panic_response)),
        )
        .with_state(state)
}
