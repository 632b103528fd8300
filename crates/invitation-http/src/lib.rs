#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod body;
mod error;
mod handlers;
mod log;
mod openapi;
mod precondition;
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

/// How much memory list answers may hold at once, in KiB (128 MiB): the
/// pages being read from storage and the answers being sent. A list
/// reserves its page size times [`MAX_BODY_BYTES`] (the most one invitation
/// can hold) before it reads storage, keeps what its page really holds until
/// the answer is sent, and gives the rest back; lists that do not fit wait.
/// Ten clients listing pages of a hundred 1 MiB invitations therefore hold
/// about one such page at a time, not ten.
pub const LIST_MEMORY_BUDGET_KIB: u32 = 128 * 1024;

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
    list_budget: Arc<tokio::sync::Semaphore>,
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
                list_budget: Arc::new(tokio::sync::Semaphore::new(LIST_MEMORY_BUDGET_KIB as usize)),
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
    let at = |path| Route {
        state: &state,
        path,
    };
    let invitations = at(INVITATIONS_PATH);
    let invitation = at("/api/v3/stages/invitation/invitations/{pk}/");
    let used_by = at("/api/v3/stages/invitation/invitations/{pk}/used_by/");
    let schema = at("/api/v3/schema/");
    let live = at("/-/health/live/");
    let ready = at("/-/health/ready/");
    let router = Router::new();
    let router = invitations.add(
        router,
        get_service(invitations.serve(handlers::list))
            .post_service(invitations.serve(handlers::create)),
    );
    let router = invitation.add(
        router,
        get_service(invitation.serve(handlers::retrieve))
            .put_service(invitation.serve(handlers::update))
            .patch_service(invitation.serve(handlers::partial_update))
            .delete_service(invitation.serve(handlers::destroy)),
    );
    let router = used_by.add(router, get_service(used_by.serve(handlers::used_by)));
    let router = schema.add(router, get_service(schema.serve(handlers::schema)));
    let router = live.add(router, get_service(live.serve(handlers::live)));
    let router = ready.add(router, get_service(ready.serve(handlers::ready)));
    router.fallback_service(at("-").serve(handlers::not_found))
}

/// One route's template, which its access lines name (`-` for no route).
struct Route<'a> {
    state: &'a AppState,
    path: &'static str,
}

impl Route<'_> {
    /// `handler`, served on this route.
    fn serve<H, T>(&self, handler: H) -> Served<H, T>
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        served(self.state, self.path, handler)
    }

    /// `router` with this route's `methods`; any other method is a JSON
    /// 405 (axum adds `Allow`), logged too.
    fn add(&self, router: Router, methods: MethodRouter) -> Router {
        router.route(
            self.path,
            methods.fallback_service(self.serve(handlers::method_not_allowed)),
        )
    }
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
