//! The routers: which routes a host mounts and where ([`Api`]), and how
//! each route is wrapped (access log, request timeout, panic catcher).

use std::sync::Arc;
use std::time::Duration;
use utoipa::openapi::security::SecurityScheme;

use axum::error_handling::{HandleError, HandleErrorLayer};
use axum::handler::{Handler, HandlerService};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get_service, MethodRouter};
use axum::{BoxError, Router};
use tower::timeout::{Timeout, TimeoutLayer};
use tower::ServiceBuilder;
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer};

use crate::handlers::{self, INVITATIONS_PATH};
use crate::state::AppState;
use crate::{error, health, log, openapi};

/// One invitation.
const INVITATION_PATH: &str = "/api/v3/stages/invitation/invitations/{pk}/";
/// Who used one invitation.
const USED_BY_PATH: &str = "/api/v3/stages/invitation/invitations/{pk}/used_by/";
/// Send one invitation by e-mail (authentik names the capture
/// `invite_uuid`; one name per segment here, as the router requires).
const SEND_EMAIL_PATH: &str = "/api/v3/stages/invitation/invitations/{pk}/send_email/";
/// [`SEND_EMAIL_PATH`] as the document names it.
const SEND_EMAIL_DOC_PATH: &str = "/api/v3/stages/invitation/invitations/{invite_uuid}/send_email/";
/// The OpenAPI document.
const SCHEMA_PATH: &str = "/api/v3/schema/";
/// Liveness.
const LIVE_PATH: &str = "/-/health/live/";
/// Readiness.
const READY_PATH: &str = "/-/health/ready/";

/// The API as a router for a host's own axum app, with the routes the host
/// asks for, under the path it asks for.
///
/// The invitation routes (authentik's
/// `/api/v3/stages/invitation/invitations/…`) are always there. The
/// OpenAPI document at `/api/v3/schema/` ([`Api::with_openapi`]), the
/// health checks at `/-/health/live/` and `/-/health/ready/`
/// ([`Api::with_health`]) and a JSON 404 for every other path
/// ([`Api::with_fallback`]) are there only when asked for. Without a
/// fallback the router merges into a host's router that has one. Any
/// other method on a route's path answers a JSON 405, and every request
/// is logged once (target `invitation_http::access`).
///
/// [`Api::nested_at`] puts every route under a prefix, and the served
/// document (and [`Api::openapi`]) names the routes where they are
/// served: under `/admin`, `/admin/api/v3/stages/invitation/invitations/`.
/// Use it rather than axum's `Router::nest`, which moves the routes but
/// not the document's paths.
///
/// # Who the caller is
///
/// The router never trusts a client header it did not authenticate
/// itself. The caller is the [`Principal`](invitation_core::Principal)
/// the host's middleware put in the request's extensions; without one,
/// an `Authorization: Bearer <token>` header is resolved through the
/// state's [`Authenticator`](invitation_core::Authenticator). A state
/// built with [`AppState::with_host_auth`] knows no token, so there only
/// the host's `Principal` counts, and a request without one is answered
/// 403 whatever headers it sends. A host that authenticates callers
/// itself therefore puts its middleware around this router (or its whole
/// app) with `Router::layer`.
///
/// ```
/// use axum::extract::Request;
/// use axum::middleware::{self, Next};
/// use axum::response::Response;
/// use axum::{routing::get, Router};
/// use invitation_core::{InvitationService, Principal, UserId};
/// use invitation_http::{Api, AppState};
///
/// #[derive(Clone)]
/// struct HostState;
///
/// /// The host's own authentication: a session, a gateway's header.
/// async fn signed_in(mut request: Request, next: Next) -> Response {
///     request.extensions_mut().insert(Principal::user(UserId::new(7)));
///     next.run(request).await
/// }
///
/// # fn wire(service: InvitationService) -> Result<(), invitation_http::InvalidPrefix> {
/// let admin = Api::new(AppState::with_host_auth(service))
///     .with_openapi()
///     .nested_at("/admin")?
///     .into_router()
///     .layer(middleware::from_fn(signed_in));
/// let app: Router = Router::new()
///     .route("/", get(|| async { "the host's own page" }))
///     .merge(admin)
///     .fallback(|| async { "the host's own 404" })
///     .with_state(HostState);
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct Api {
    state: AppState,
    prefix: Option<String>,
    serves_openapi: bool,
    serves_health: bool,
    has_fallback: bool,
    security: Option<SecurityScheme>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // utoipa's types implement Debug only with a feature of theirs.
        f.debug_struct("Api")
            .field("state", &self.state)
            .field("prefix", &self.prefix)
            .field("serves_openapi", &self.serves_openapi)
            .field("serves_health", &self.serves_health)
            .field("has_fallback", &self.has_fallback)
            .field("security_scheme", &self.security.is_some())
            .finish()
    }
}

impl Api {
    /// The invitation routes on `state`, at the root, with no other route
    /// and no fallback.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            prefix: None,
            serves_openapi: false,
            serves_health: false,
            has_fallback: false,
            security: None,
        }
    }

    /// Names `scheme` in the OpenAPI document as how callers
    /// authenticate (the scheme `authentik` every operation requires): for
    /// a host whose middleware authenticates them (a session cookie, a
    /// gateway's header).
    ///
    /// Without it, the document names authentik's `Authorization: Bearer
    /// <token>` when the state resolves tokens ([`AppState::new`]), and no
    /// scheme at all with [`AppState::with_host_auth`], whose router takes
    /// no token.
    ///
    /// ```
    /// use invitation_http::utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
    /// use invitation_http::{Api, AppState};
    /// # fn wire(service: invitation_core::InvitationService) {
    /// // Callers sign in with the host's `session` cookie.
    /// let api = Api::new(AppState::with_host_auth(service)).with_security_scheme(
    ///     SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("session"))),
    /// );
    /// # let _ = api; }
    /// ```
    pub fn with_security_scheme(mut self, scheme: SecurityScheme) -> Self {
        self.security = Some(scheme);
        self
    }

    /// Also serves the OpenAPI document of this router's routes at
    /// `/api/v3/schema/` (under the prefix). It describes the routes
    /// where this router serves them, and no route it does not serve.
    pub fn with_openapi(mut self) -> Self {
        self.serves_openapi = true;
        self
    }

    /// Also serves the health checks at `/-/health/live/` and
    /// `/-/health/ready/` (under the prefix); readiness pings the state's
    /// store, at most once a second.
    pub fn with_health(mut self) -> Self {
        self.serves_health = true;
        self
    }

    /// Answers every path no route matches, in or outside the prefix,
    /// with the API's JSON 404: for a router that is the whole app, as
    /// [`router`](crate::router) is. A host with a fallback of its own
    /// leaves it off (axum refuses to merge two routers that both have
    /// one).
    pub fn with_fallback(mut self) -> Self {
        self.has_fallback = true;
        self
    }

    /// Serves every route under `prefix` (`/admin`: the invitations at
    /// `/admin/api/v3/stages/invitation/invitations/`), and names them so
    /// in the document.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] unless `prefix` is `/` followed by one or more
    /// segments separated by `/` (no trailing `/`), each made of ASCII
    /// letters, digits, `-`, `.`, `_` and `~`, and neither `.` nor `..`:
    /// no `{capture}`, no wildcard, nothing a router would read as more
    /// than a literal path.
    pub fn nested_at(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        check_prefix(prefix)?;
        self.prefix = Some(prefix.to_owned());
        Ok(self)
    }

    /// The OpenAPI document of this router's routes, with their paths as
    /// served (under the prefix): for a host that serves it elsewhere, or
    /// merges it into its own. [`Api::with_openapi`] serves this document.
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        let mut templates = vec![
            INVITATIONS_PATH,
            INVITATION_PATH,
            USED_BY_PATH,
            SEND_EMAIL_DOC_PATH,
        ];
        if self.serves_openapi {
            templates.push(SCHEMA_PATH);
        }
        if self.serves_health {
            templates.extend([LIVE_PATH, READY_PATH]);
        }
        let mut document = openapi::mounted(self.prefix.as_deref().unwrap_or_default(), &templates);
        match (&self.security, self.state.shared.takes_tokens) {
            (Some(scheme), _) => openapi::set_security_scheme(&mut document, scheme.clone()),
            (None, true) => {}
            (None, false) => openapi::remove_security(&mut document),
        }
        document
    }

    /// The router, for the host's state `S`: it merges into the host's
    /// router before the host's `with_state`.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = &self.state;
        let at = |path| Route { state, path };
        let invitations = at(INVITATIONS_PATH);
        let invitation = at(INVITATION_PATH);
        let used_by = at(USED_BY_PATH);
        let routes = invitations.add(
            Router::new(),
            get_service(invitations.serve(handlers::list))
                .post_service(invitations.serve(handlers::create)),
        );
        let routes = invitation.add(
            routes,
            get_service(invitation.serve(handlers::retrieve))
                .put_service(invitation.serve(handlers::update))
                .patch_service(invitation.serve(handlers::partial_update))
                .delete_service(invitation.serve(handlers::destroy)),
        );
        let routes = used_by.add(routes, get_service(used_by.serve(handlers::used_by)));
        let send_email = at(SEND_EMAIL_PATH);
        let mut routes = send_email.add(
            routes,
            axum::routing::post_service(send_email.serve(handlers::send_email)),
        );
        if self.serves_openapi {
            let document: Arc<[u8]> = openapi::render(&self.openapi()).into();
            routes = get_at(routes, state, SCHEMA_PATH, move || {
                openapi::schema(Arc::clone(&document))
            });
        }
        if self.serves_health {
            routes = get_at(routes, state, LIVE_PATH, health::live);
            routes = get_at(routes, state, READY_PATH, health::ready);
        }
        let router = match &self.prefix {
            // Checked by `nested_at`: axum's `nest` takes it without a panic.
            Some(prefix) => Router::new().nest(prefix, routes),
            None => routes,
        };
        if self.has_fallback {
            router.fallback_service(served(state, "-", handlers::not_found))
        } else {
            router
        }
    }
}

/// Why [`Api::nested_at`] refused a prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPrefix {
    /// It does not start with `/` (or is empty).
    #[error("the mount prefix {0:?} does not start with `/`")]
    NotAbsolute(String),
    /// It ends with `/` (or is `/` alone: the root needs no prefix).
    #[error("the mount prefix {0:?} ends with `/`; write it without (`/admin`), or mount at the root without a prefix")]
    TrailingSlash(String),
    /// It has an empty (`//`), `.` or `..` segment.
    #[error("the mount prefix {0:?} has an empty, `.` or `..` segment")]
    Segment(String),
    /// It has a character outside ASCII letters, digits, `-`, `.`, `_`,
    /// `~` and `/`, such as the `{` of a capture.
    #[error("the mount prefix {prefix:?} has {character:?}; a prefix is a literal path of ASCII letters, digits, `-`, `.`, `_`, `~` and `/`")]
    Character {
        /// The prefix.
        prefix: String,
        /// Its first character outside the set.
        character: char,
    },
}

/// `Ok` when `prefix` is a literal path that axum's `Router::nest` takes
/// and that names the same routes wherever a client or a router reads it.
fn check_prefix(prefix: &str) -> Result<(), InvalidPrefix> {
    let Some(segments) = prefix.strip_prefix('/') else {
        return Err(InvalidPrefix::NotAbsolute(prefix.to_owned()));
    };
    if prefix.ends_with('/') {
        return Err(InvalidPrefix::TrailingSlash(prefix.to_owned()));
    }
    for segment in segments.split('/') {
        if matches!(segment, "" | "." | "..") {
            return Err(InvalidPrefix::Segment(prefix.to_owned()));
        }
        let literal = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if let Some(character) = segment.chars().find(|c| !literal(c)) {
            return Err(InvalidPrefix::Character {
                prefix: prefix.to_owned(),
                character,
            });
        }
    }
    Ok(())
}

/// What a request whose handler ran past the request timeout is answered.
fn timed_out(error: BoxError) -> std::future::Ready<Response> {
    if !error.is::<tower::timeout::error::Elapsed>() {
        // Nothing else inside the timeout fails (panics are answered).
        tracing::error!(error = %error, "request failed");
        return std::future::ready(crate::detail_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A server error occurred.",
            "server_error",
        ));
    }
    let mut response = crate::detail_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "The request took too long.",
        "timeout",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    std::future::ready(response)
}

/// `router` with `handler` answering `GET` at `path` (any other method a
/// JSON 405).
fn get_at<S, H, T>(router: Router<S>, state: &AppState, path: &'static str, handler: H) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    H: Handler<T, AppState>,
    T: 'static,
{
    let route = Route { state, path };
    route.add(router, get_service(route.serve(handler)))
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
    fn add<S>(&self, router: Router<S>, methods: MethodRouter<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.route(
            self.path,
            methods.fallback_service(self.serve(handlers::method_not_allowed)),
        )
    }
}

/// What a panicking handler answers instead.
type PanicResponse = fn(Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response;

/// A handler with the state, inside the panic catcher.
type Caught<H, T> = CatchPanic<HandlerService<H, T, AppState>, PanicResponse>;

/// A caught handler inside the request timeout, inside the access log.
type Served<H, T> = log::AccessLog<
    HandleError<Timeout<Caught<H, T>>, fn(BoxError) -> std::future::Ready<Response>, ()>,
>;

/// Wraps `handler` on its own rather than the whole router with
/// `Router::layer`, so that each route's access line names `route`, its
/// template (`-` for the fallback), and so that the access log is outside
/// the request timeout: a request that runs too long is logged with the
/// `503` it is answered. Without a request timeout the timer is set past
/// any request's life.
fn served<H, T>(state: &AppState, route: &'static str, handler: H) -> Served<H, T>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let timeout = state.request_timeout.unwrap_or(Duration::MAX);
    ServiceBuilder::new()
        .layer(log::AccessLogLayer::new(route))
        .layer(HandleErrorLayer::new(
            timed_out as fn(BoxError) -> std::future::Ready<Response>,
        ))
        .layer(TimeoutLayer::new(timeout))
        .layer(CatchPanicLayer::custom(
            error::panic_response as PanicResponse,
        ))
        .service(handler.with_state(state.clone()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use invitation_core::{AllowAll, InvitationService};
    use invitation_memory::MemoryStore;

    use super::*;

    fn api() -> Api {
        let service = InvitationService::builder(Arc::new(MemoryStore::new()))
            .authorizer(Arc::new(AllowAll))
            .build();
        Api::new(AppState::with_host_auth(service))
    }

    fn paths(document: &utoipa::openapi::OpenApi) -> BTreeSet<&str> {
        document.paths.paths.keys().map(String::as_str).collect()
    }

    #[test]
    fn with_every_route_the_document_is_the_whole_annotated_one() {
        let whole = openapi::openapi();
        let mounted = api().with_openapi().with_health().openapi();
        assert_eq!(paths(&mounted), paths(&whole));
    }

    #[test]
    fn the_document_lists_only_the_routes_asked_for() {
        let document = api().openapi();
        assert_eq!(
            paths(&document),
            BTreeSet::from([
                INVITATIONS_PATH,
                INVITATION_PATH,
                USED_BY_PATH,
                SEND_EMAIL_DOC_PATH
            ])
        );
    }

    #[test]
    fn under_a_prefix_every_path_of_the_document_starts_with_it() {
        let document = api()
            .with_openapi()
            .with_health()
            .nested_at("/a/b")
            .unwrap()
            .openapi();
        let whole = openapi::openapi();
        let prefixed: BTreeSet<String> = paths(&whole).iter().map(|p| format!("/a/b{p}")).collect();
        let listed: BTreeSet<String> = paths(&document).into_iter().map(String::from).collect();
        assert_eq!(listed, prefixed);
    }

    #[test]
    fn literal_paths_are_prefixes() {
        for prefix in ["/admin", "/a/b", "/v1.2", "/x-y_z~"] {
            assert_eq!(check_prefix(prefix), Ok(()), "{prefix}");
        }
    }

    #[test]
    fn a_prefix_that_is_not_a_literal_absolute_path_without_trailing_slash_is_refused() {
        let refused = |prefix: &str| check_prefix(prefix).unwrap_err();
        assert_eq!(refused(""), InvalidPrefix::NotAbsolute(String::new()));
        assert_eq!(refused("admin"), InvalidPrefix::NotAbsolute("admin".into()));
        assert_eq!(refused("/"), InvalidPrefix::TrailingSlash("/".into()));
        assert_eq!(
            refused("/admin/"),
            InvalidPrefix::TrailingSlash("/admin/".into())
        );
        for prefix in ["//admin", "/a//b", "/./a", "/a/.."] {
            assert_eq!(refused(prefix), InvalidPrefix::Segment(prefix.into()));
        }
        for (prefix, character) in [
            ("/{tenant}", '{'),
            ("/a}", '}'),
            ("/*rest", '*'),
            ("/:id", ':'),
            ("/a b", ' '),
            ("/a?b", '?'),
            ("/a%20", '%'),
            ("/é", 'é'),
        ] {
            assert_eq!(
                refused(prefix),
                InvalidPrefix::Character {
                    prefix: prefix.into(),
                    character
                }
            );
        }
    }

    #[test]
    fn a_refused_prefix_says_which_and_why() {
        let message = check_prefix("/{tenant}").unwrap_err().to_string();
        assert!(message.contains("\"/{tenant}\""), "{message}");
        assert!(message.contains("'{'"), "{message}");
    }
}
