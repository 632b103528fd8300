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

use axum::handler::{Handler, HandlerService};
use axum::routing::{get_service, MethodRouter};
use axum::Router;
use invitation_core::{Authenticator, InvitationService};
use tower::ServiceBuilder;
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer};

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
    let s = &state;
    // A method the route lacks: a JSON 405 (axum adds `Allow`), logged too.
    let or_405 = |route: &'static str, methods: MethodRouter| {
        methods.fallback_service(served(s, route, handlers::method_not_allowed))
    };
    const INVITATION: &str = "/api/v3/stages/invitation/invitations/{pk}/";
    const USED_BY: &str = "/api/v3/stages/invitation/invitations/{pk}/used_by/";
    const SCHEMA: &str = "/api/v3/schema/";
    const LIVE: &str = "/-/health/live/";
    const READY: &str = "/-/health/ready/";
    let invitations = get_service(served(s, INVITATIONS_PATH, handlers::list))
        .post_service(served(s, INVITATIONS_PATH, handlers::create));
    Router::new()
        .route(INVITATIONS_PATH, or_405(INVITATIONS_PATH, invitations))
        .route(
            INVITATION,
            or_405(
                INVITATION,
                get_service(served(s, INVITATION, handlers::retrieve))
                    .put_service(served(s, INVITATION, handlers::update))
                    .patch_service(served(s, INVITATION, handlers::partial_update))
                    .delete_service(served(s, INVITATION, handlers::destroy)),
            ),
        )
        .route(
            USED_BY,
            or_405(USED_BY, get_service(served(s, USED_BY, handlers::used_by))),
        )
        .route(
            SCHEMA,
            or_405(SCHEMA, get_service(served(s, SCHEMA, handlers::schema))),
        )
        .route(
            LIVE,
            or_405(LIVE, get_service(served(s, LIVE, handlers::live))),
        )
        .route(
            READY,
            or_405(READY, get_service(served(s, READY, handlers::ready))),
        )
        .fallback_service(served(s, "-", handlers::not_found))
}

/// What a panicking handler answers instead.
type PanicResponse = fn(Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response;

/// A handler with the state, inside the panic catcher and the access log.
type Served<H, T> = log::AccessLog<CatchPanic<HandlerService<H, T, AppState>, PanicResponse>>;

/// Wraps `handler` on its own rather than the whole router with
/// `Router::layer`: axum boxes every route once more per `layer` call and
/// clones that box for every request (about 1,000 of the ~29,000
/// instructions a create takes, docs/performance.md). Each route's access
/// line names `route`, its template (`-` for the fallback), given here
/// rather than looked up in each request's extensions.
fn served<H, T>(state: &AppState, route: &'static str, handler: H) -> Served<H, T>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    ServiceBuilder::new()
        .layer(log::AccessLogLayer::new(route))
        .layer(CatchPanicLayer::custom(
            error::panic_response as PanicResponse,
        ))
        .service(handler.with_state(state.clone()))
}
