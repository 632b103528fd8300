//! What every request handler shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use invitation_core::{Authenticator, InvitationService};

use crate::readiness::Readiness;

/// How much memory list answers may hold at once, in KiB (128 MiB): the
/// pages being read from storage and the answers being sent. A list
/// reserves its page size times [`MAX_BODY_BYTES`] (the most one invitation
/// can hold) before it reads storage, keeps what its page really holds until
/// the answer is sent, and gives the rest back; lists that do not fit wait.
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
}

pub(crate) struct Shared {
    pub(crate) service: InvitationService,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) list_budget: Arc<tokio::sync::Semaphore>,
    pub(crate) readiness: Readiness,
}

impl AppState {
    /// Serves `service`, resolving `Authorization: Bearer <token>` headers
    /// with `authenticator`. Handlers are bounded by
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(service: InvitationService, authenticator: Arc<dyn Authenticator>) -> Self {
        Self {
            shared: Arc::new(Shared {
                service,
                authenticator,
                list_budget: Arc::new(tokio::sync::Semaphore::new(LIST_MEMORY_BUDGET_KIB as usize)),
                readiness: Readiness::default(),
            }),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }

    /// How long a request's handler may run (`None`: as long as it takes)
    /// before it is dropped and answered `503` with code `timeout`.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
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
