#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod directory;
mod ids;
mod list;
mod model;
mod plain_json;
pub mod ports;
mod query;
mod service;
pub mod time;
mod validation;
mod view;

pub use directory::{FlowDesignation, FlowSummary, PolicyEngineMode, UserSummary};
pub use ids::{FlowId, InvitationId, MalformedId, UserId};
pub use list::{
    ListPage, ListRequest, PageNumber, Pagination, SearchError, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
    MAX_SEARCH_WORDS, MAX_SEARCH_WORD_CHARS,
};
pub use model::{
    CorruptRow, FixedData, FixedDataError, Invitation, InvitationName, InvitationParts,
    InvitationPatch, NameError, StoredInvitation, Version, FIXED_DATA_MAX_DEPTH, NAME_MAX_CHARS,
};
pub use ports::{
    AuthError, Authenticator, Authorizer, BoxError, Clock, DeleteOutcome, DirectoryError,
    EventSink, FlowDirectory, IdGenerator, InvitationEvent, InvitationStore, NoEvents, Permission,
    Principal, RandomIds, RedeemOutcome, StoreError, SystemClock, UpdateOutcome, UserDirectory,
};
pub use query::{
    contains_ignore_ascii_case, Filters, ListQuery, Ordering, SearchTerm, SortField, StoredPage,
};
pub use service::{
    CreateError, DeleteError, GetError, InvitationService, ListError, RedeemError, UpdateError,
};
/// The workspace README's examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;

pub use validation::{
    validate, validate_collect, Changes, Field, FlowRef, InvitationInput, JsonInputError, Mode,
    ValidationErrors,
};
pub use view::InvitationView;
