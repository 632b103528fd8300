#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Each module is public, for a reader who browses by topic; the items a host
// or an adapter names are also re-exported here, at the root.
pub mod builder;
pub mod directory;
pub mod ids;
pub mod json;
pub mod list;
pub mod mail;
pub mod model;
pub mod ports;
pub mod query;
pub mod service;
pub mod time;
pub mod validation;
pub mod view;

pub use builder::{NeedsAuthorizer, ServiceBuilder};
pub use directory::{FlowDesignation, FlowSummary, PolicyEngineMode, UserSummary};
pub use ids::{FlowId, InvitationId, MalformedId, UserId};
pub use list::{
    ListPage, ListRequest, PageNumber, SearchError, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
    MAX_SEARCH_WORDS, MAX_SEARCH_WORD_CHARS,
};
pub use mail::{
    dispatch_due, read_claimed, Attempt, ClaimedRows, DispatchReport, EmailAddress, GivenUp,
    InvalidEmailAddress, InvalidSite, InvitationMail, MailError, MailId, MailOutbox, MailTemplates,
    Mailer, QueuedMail, RenderedMail, RetryPolicy, SendEmail, Site, StoredMail, TemplateError,
    DEFAULT_TEMPLATE, MAX_RECIPIENTS,
};
pub use model::{
    CorruptRow, FixedData, FixedDataError, Invitation, InvitationName, InvitationParts,
    InvitationPatch, NameError, StoredInvitation, Version, FIXED_DATA_MAX_DEPTH,
    FIXED_DATA_RESERVED_KEY_PREFIX, NAME_MAX_CHARS,
};
pub use ports::{
    AllowAll, AuthError, Authenticator, Authorizer, BoxError, Clock, DeleteOutcome, DirectoryError,
    EventSink, FlowDirectory, IdGenerator, InvitationEvent, InvitationStore, NoEvents, NoFlows,
    NoUsers, Permission, Principal, RandomIds, RedeemOutcome, StoreError, SystemClock,
    UpdateOutcome, UserDirectory,
};
pub use query::{Filters, ListQuery, Ordering, SearchTerm, SortField, StoredPage};
pub use service::{
    CreateError, DeleteError, GetError, InvitationService, ListError, PendingEvents, RedeemError,
    SendEmailError, UnitOfWork, UpdateError,
};
/// The workspace README's examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;

pub use validation::{Field, FieldError, InvitationInput, ValidationErrors};
pub use view::InvitationView;

// The crates whose types and macro appear in this crate's API, so that a
// host or an adapter uses the same versions without naming them itself.

/// The macro the ports' `impl`s take, so that a host needs no
/// `async-trait` dependency of its own:
///
/// ```
/// use invitation_core::{async_trait, AuthError, Authenticator, Principal};
///
/// #[derive(Debug)]
/// struct NoOne;
///
/// #[async_trait]
/// impl Authenticator for NoOne {
///     async fn authenticate(&self, _token: &str) -> Result<Option<Principal>, AuthError> {
///         Ok(None)
///     }
/// }
/// ```
pub use async_trait::async_trait;
pub use chrono;
pub use serde_json;
pub use uuid;
