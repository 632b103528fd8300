//! What every request handler shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use invitation_core::{async_trait, AuthError, Authenticator, InvitationService, Principal, Site};

use crate::readiness::Readiness;

/// How much memory list answers may hold at once, in KiB (128 MiB): the
/// pages being read from storage and the answers being sent. A list
/// reserves its page size times [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES)
/// (the most one invitation can hold) before it reads storage, keeps what
/// its page really holds until the answer is sent, and gives the rest back;
/// lists that do not fit wait.
/// Ten clients listing pages of a hundred 1 MiB invitations therefore hold
/// about one such page at a time, not ten.
pub const LIST_MEMORY_BUDGET_KIB: u32 = 128 * 1024;

/// How long a request's handler may run before it is answered
/// `503 {"detail": "The request took too long.", "code": "timeout"}`
/// (with `Retry-After`), unless [`AppState::with_request_timeout`] says
/// otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request handler shares: the use cases and the token port.
/// Cheap to clone (one reference count: axum clones it for every request).
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) request_timeout: Option<Duration>,
    /// The site invitation links name; `None`: the request's own.
    pub(crate) public_site: Option<Arc<Site>>,
}

pub(crate) struct Shared {
    pub(crate) service: InvitationService,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    /// Whether callers authenticate with `Authorization: Bearer <token>`
    /// (not so with [`AppState::with_host_auth`]): the OpenAPI document
    /// says so only then.
    pub(crate) takes_tokens: bool,
    pub(crate) list_budget: Arc<tokio::sync::Semaphore>,
    pub(crate) readiness: Readiness,
}

impl AppState {
    /// Serves `service`, resolving `Authorization: Bearer <token>` headers
    /// with `authenticator`. Handlers are bounded by
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(service: InvitationService, authenticator: Arc<dyn Authenticator>) -> Self {
        Self::build(service, authenticator, true)
    }

    fn build(
        service: InvitationService,
        authenticator: Arc<dyn Authenticator>,
        takes_tokens: bool,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                service,
                authenticator,
                takes_tokens,
                list_budget: Arc::new(tokio::sync::Semaphore::new(LIST_MEMORY_BUDGET_KIB as usize)),
                readiness: Readiness::default(),
            }),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            public_site: None,
        }
    }

    /// Serves `service` to callers the host has already authenticated: its
    /// middleware puts each request's [`Principal`] in the request's
    /// extensions, and that `Principal` is the caller.
    ///
    /// Only that `Principal` counts. The state knows no API token, so no
    /// header a client sends makes it a caller: a request without a
    /// `Principal` is answered 403 whatever its `Authorization` (or any
    /// other header) says, even when the host's user directory knows the
    /// token. The router never trusts a client header it did not
    /// authenticate itself; what the host's middleware reads (a session
    /// cookie, a gateway's header) is the host's to authenticate, and a
    /// request it does not authenticate must reach the router without a
    /// `Principal`.
    ///
    /// ```
    /// use axum::{extract::Request, middleware::{self, Next}, Router};
    /// use invitation_core::{InvitationService, Principal, UserId};
    ///
    /// async fn gateway_auth(mut request: Request, next: Next) -> axum::response::Response {
    ///     // However the host knows its caller: a gateway header, a session.
    ///     request.extensions_mut().insert(Principal::user(UserId::new(7)));
    ///     next.run(request).await
    /// }
    ///
    /// # fn wire(service: InvitationService) {
    /// let state = invitation_http::AppState::with_host_auth(service);
    /// let app: Router = invitation_http::Api::new(state)
    ///     .into_router()
    ///     .layer(middleware::from_fn(gateway_auth));
    /// # let _ = app; }
    /// ```
    pub fn with_host_auth(service: InvitationService) -> Self {
        Self::build(service, Arc::new(NoTokens), false)
    }

    /// How long a request's handler may run (`None`: as long as it takes)
    /// before it is dropped and answered `503` with code `timeout`.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The site `send_email`'s links open (the server's `--public-url`).
    /// Without one, a link names the site the request was sent to: its
    /// `Host` header, over `http` unless the request's URI says `https`.
    /// A client chooses that header, so a host behind a proxy, or whose
    /// callers it does not fully trust, sets the public site.
    #[must_use]
    pub fn with_public_site(mut self, site: Site) -> Self {
        self.public_site = Some(Arc::new(site));
        self
    }

    /// The use cases this state serves.
    pub fn service(&self) -> &InvitationService {
        &self.shared.service
    }
}

/// Shows no port: a directory's `Debug` may list its tokens.
impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Knows no API token: for a host that authenticates in its own middleware.
#[derive(Debug)]
struct NoTokens;

#[async_trait]
impl Authenticator for NoTokens {
    async fn authenticate(&self, _: &str) -> Result<Option<Principal>, AuthError> {
        Ok(None)
    }
}
