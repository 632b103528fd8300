//! The ports: what the library needs from its host.
//!
//! Each trait is minimal and has a `# Contract`; the storage conformance
//! suite in `invitation-testkit` checks [`InvitationStore`] implementations
//! against it.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::directory::{FlowSummary, UserSummary};
use crate::ids::{FlowId, InvitationId, UserId};
use crate::mail::MailId;
use crate::model::{Invitation, InvitationPatch, Version};
use crate::query::{ListQuery, StoredPage};

/// A boxed error from an adapter, kept as the source of port errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a storage adapter can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An invitation with this id is already stored.
    #[error("an invitation with id {0} already exists")]
    Conflict(InvitationId),
    /// A mail with this id is already queued
    /// ([`MailOutbox::enqueue`](crate::MailOutbox::enqueue)).
    #[error("a mail with id {0} is already queued")]
    MailConflict(MailId),
    /// The backend cannot be reached right now (connection refused, pool
    /// timed out). Retrying later may succeed.
    #[error("invitation storage is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored row breaks the domain's rules (e.g. written by hand), or
    /// cannot be read at all. Build it with [`StoreError::corrupt`].
    #[error("stored invitation row is corrupt: {reason}")]
    Corrupt {
        /// The invitation whose row it is, when the id could be read.
        id: Option<InvitationId>,
        /// What is wrong with it.
        reason: String,
        /// The error that found it (a decoder's, or a [`CorruptRow`](crate::CorruptRow)).
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else the backend reported.
    #[error("invitation storage failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// A [`StoreError::Corrupt`] for the row of `id` (when known): `reason`
    /// says what is wrong, `source` what found it.
    pub fn corrupt(
        id: Option<InvitationId>,
        reason: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Self::Corrupt {
            id,
            reason: reason.into(),
            source,
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The answer of [`InvitationStore::redeem`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedeemOutcome {
    /// Valid: here it is (for a single-use invitation, it is now deleted).
    Redeemed(Invitation),
    /// No invitation has this id.
    NotFound,
    /// It exists but expired at or before the given instant; nothing changed.
    Expired,
    /// It exists but is bound to another flow; nothing changed.
    WrongFlow,
}

/// The answer of [`InvitationStore::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// Written: the invitation as stored now (its version one more).
    Updated(Invitation),
    /// No invitation has this id; nothing was written.
    NotFound,
    /// The stored version is not the expected one; nothing was written.
    VersionMismatch {
        /// The version stored.
        current: Version,
    },
}

impl UpdateOutcome {
    /// `update` on a row held in memory, as the contract states it: writes
    /// [`InvitationPatch::apply`] into `row` unless it is missing or not at
    /// `expected`. For adapters that hold rows themselves (under a lock).
    pub fn write(
        row: Option<&mut Invitation>,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Self {
        match row {
            None => Self::NotFound,
            Some(row) if expected.is_some_and(|v| v != row.version()) => Self::VersionMismatch {
                current: row.version(),
            },
            Some(row) => {
                *row = patch.apply(row);
                Self::Updated(row.clone())
            }
        }
    }
}

/// The answer of [`InvitationStore::delete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// The row is gone.
    Deleted,
    /// No invitation has this id.
    NotFound,
    /// The stored version is not the expected one; nothing was deleted.
    VersionMismatch {
        /// The version stored.
        current: Version,
    },
}

impl DeleteOutcome {
    /// Whether `delete` at `expected` may remove `row` (held in memory):
    /// [`DeleteOutcome::Deleted`] means "remove it", anything else is the
    /// answer as it is. For adapters that hold rows themselves.
    pub fn check(row: Option<&Invitation>, expected: Option<Version>) -> Self {
        match row {
            None => Self::NotFound,
            Some(row) if expected.is_some_and(|v| v != row.version()) => Self::VersionMismatch {
                current: row.version(),
            },
            Some(_) => Self::Deleted,
        }
    }
}

/// Where invitations are kept.
///
/// # Contract
/// - `insert` stores a new invitation as given (version included), or fails
///   with [`StoreError::Conflict`] if its id is taken (and changes nothing).
/// - `get` returns `Ok(None)` for an unknown id, never an error.
/// - `update` is one atomic step on the stored row: when `expected` is
///   `Some` and differs from the stored version it answers
///   [`UpdateOutcome::VersionMismatch`] and writes nothing; otherwise it
///   writes exactly what [`InvitationPatch::apply`] gives for the row as it
///   is at that moment (fields the patch leaves out keep their stored value,
///   even if another write changed them since the caller last read it; the
///   version becomes the next one) and returns the row written. Two
///   concurrent updates of different fields both take effect. An unknown id
///   is [`UpdateOutcome::NotFound`], writing nothing.
/// - `delete` removes the row and answers [`DeleteOutcome::Deleted`],
///   [`DeleteOutcome::NotFound`] when there is none, or, when `expected` is
///   `Some` and differs from the stored version,
///   [`DeleteOutcome::VersionMismatch`] without deleting; atomically.
/// - `list` applies [`ListQuery::matches`] and [`ListQuery::compare`] exactly
///   (ties by id, `None` after every value when ascending), then skips
///   `offset` and takes `limit`; `total` counts every matching row. It never
///   loads rows that do not match into memory.
/// - `redeem` is atomic: it finds the invitation by id, reports
///   [`RedeemOutcome::Expired`] if `expires <= now`, and
///   [`RedeemOutcome::WrongFlow`] if it is bound to a flow other than `flow`
///   (an unbound one fits any flow), changing nothing in either case;
///   otherwise it returns it and, if `single_use`, deletes it in the same
///   step. Under any number of concurrent calls for one single-use
///   invitation, exactly one gets `Redeemed`; the others get `NotFound`.
/// - `purge_expired` deletes every invitation with `expires <= now` and
///   returns how many; it never deletes one whose `expires` is `None`.
/// - `unbind_flow` sets `flow = None` on every invitation bound to `flow`,
///   each one's version becoming the next, and returns how many changed.
/// - `delete_created_by` deletes every invitation `user` created and returns
///   how many.
/// - `ping` answers `Ok(())` when the backend serves requests.
/// - Every write is durable once the call returns `Ok` (for a store scoped
///   to a host's transaction: once the host commits).
/// - A row the adapter cannot read back as an [`Invitation`] answers
///   [`StoreError::Corrupt`] naming its id, from every call that reads it;
///   other rows still read.
#[async_trait]
pub trait InvitationStore: Send + Sync + Debug {
    /// Stores a new invitation.
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError>;
    /// Reads one invitation.
    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError>;
    /// Changes the given fields of one invitation, if it is at `expected`.
    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError>;
    /// Deletes one invitation, if it is at `expected`.
    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError>;
    /// One page of matching invitations, and how many match.
    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError>;
    /// Atomically checks and, for single-use invitations, consumes: in
    /// `flow`, or outside any flow when `None` (then only an invitation
    /// bound to no flow is redeemable; see [`Invitation::redeemable_in`]).
    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError>;
    /// Deletes expired invitations.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Unbinds invitations from a deleted flow.
    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError>;
    /// Deletes the invitations a deleted user created.
    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError>;
    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// `impl InvitationStore for $store`, every method handed to the value
/// `$store`'s method `$to()` returns (which has the same methods, inherent or
/// from the trait): for an adapter with several public types (a pooled
/// store, a store inside a host's transaction) over one implementation.
///
/// ```
/// # use invitation_core::*;
/// # use invitation_core::chrono::{DateTime, Utc};
/// #[derive(Debug)]
/// struct Scoped<'a>(&'a dyn InvitationStore);
///
/// impl Scoped<'_> {
///     fn inner(&self) -> &dyn InvitationStore {
///         self.0
///     }
/// }
///
/// invitation_core::forward_store!(Scoped<'_> => inner);
/// ```
#[macro_export]
macro_rules! forward_store {
    ($store:ty => $to:ident) => {
        #[$crate::async_trait]
        impl $crate::InvitationStore for $store {
            async fn insert(
                &self,
                invitation: &$crate::Invitation,
            ) -> Result<(), $crate::StoreError> {
                self.$to().insert(invitation).await
            }
            async fn get(
                &self,
                id: &$crate::InvitationId,
            ) -> Result<Option<$crate::Invitation>, $crate::StoreError> {
                self.$to().get(id).await
            }
            async fn update(
                &self,
                id: &$crate::InvitationId,
                patch: &$crate::InvitationPatch,
                expected: Option<$crate::Version>,
            ) -> Result<$crate::UpdateOutcome, $crate::StoreError> {
                self.$to().update(id, patch, expected).await
            }
            async fn delete(
                &self,
                id: &$crate::InvitationId,
                expected: Option<$crate::Version>,
            ) -> Result<$crate::DeleteOutcome, $crate::StoreError> {
                self.$to().delete(id, expected).await
            }
            async fn list(
                &self,
                query: &$crate::ListQuery,
            ) -> Result<$crate::StoredPage, $crate::StoreError> {
                self.$to().list(query).await
            }
            async fn redeem(
                &self,
                id: &$crate::InvitationId,
                flow: Option<&$crate::FlowId>,
                now: $crate::chrono::DateTime<$crate::chrono::Utc>,
            ) -> Result<$crate::RedeemOutcome, $crate::StoreError> {
                self.$to().redeem(id, flow, now).await
            }
            async fn purge_expired(
                &self,
                now: $crate::chrono::DateTime<$crate::chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                self.$to().purge_expired(now).await
            }
            async fn unbind_flow(&self, flow: &$crate::FlowId) -> Result<u64, $crate::StoreError> {
                self.$to().unbind_flow(flow).await
            }
            async fn delete_created_by(
                &self,
                user: &$crate::UserId,
            ) -> Result<u64, $crate::StoreError> {
                self.$to().delete_created_by(user).await
            }
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                self.$to().ping().await
            }
        }
    };
}

/// What a directory (users or flows) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The directory cannot be reached right now.
    #[error("directory is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else.
    #[error("directory lookup failed")]
    Backend(#[source] BoxError),
}

/// The host's flows.
///
/// Summaries are shared, immutable snapshots (`Arc`), so a directory can
/// hand out what it caches without copying, and a page of invitations by one
/// creator shares one summary.
///
/// # Contract
/// - `flow` returns `Ok(None)` for an unknown id.
/// - `flows` returns the summaries of the known ids among `ids`, in any
///   order, unknown ids left out; one call, however many ids.
/// - `find_by_slug` returns the flows whose slug equals `slug` exactly.
/// - `search_slugs` returns the flows whose slug contains `text`, ignoring
///   ASCII case, with no wildcard characters.
#[async_trait]
pub trait FlowDirectory: Send + Sync + Debug + 'static {
    /// One flow.
    async fn flow(&self, id: &FlowId) -> Result<Option<Arc<FlowSummary>>, DirectoryError>;
    /// Many flows in one call.
    async fn flows(&self, ids: &[FlowId]) -> Result<Vec<Arc<FlowSummary>>, DirectoryError>;
    /// Flows with exactly this slug.
    async fn find_by_slug(&self, slug: &str) -> Result<Vec<FlowId>, DirectoryError>;
    /// Flows whose slug contains `text`.
    async fn search_slugs(&self, text: &str) -> Result<Vec<FlowId>, DirectoryError>;
}

/// The host's users.
///
/// Summaries are shared, immutable snapshots (`Arc`), as for
/// [`FlowDirectory`].
///
/// # Contract
/// - `user` returns `Ok(None)` for an unknown id.
/// - `users` returns the summaries of the known ids among `ids`, in any
///   order, unknown ids left out; one call, however many ids.
/// - `find_by_username` returns the users whose username equals `username`.
/// - `search_usernames` returns the users whose username contains `text`,
///   ignoring ASCII case, with no wildcard characters.
#[async_trait]
pub trait UserDirectory: Send + Sync + Debug + 'static {
    /// One user.
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError>;
    /// Many users in one call.
    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError>;
    /// Users with exactly this username.
    async fn find_by_username(&self, username: &str) -> Result<Vec<UserId>, DirectoryError>;
    /// Users whose username contains `text`.
    async fn search_usernames(&self, text: &str) -> Result<Vec<UserId>, DirectoryError>;
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    user: UserId,
}

impl Principal {
    /// The caller is this user.
    pub const fn user(user: UserId) -> Self {
        Self { user }
    }

    /// The user acting.
    pub const fn user_id(&self) -> UserId {
        self.user
    }
}

/// The four invitation permissions (authentik's codenames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// `authentik_stages_invitation.add_invitation`
    Add,
    /// `authentik_stages_invitation.view_invitation`
    View,
    /// `authentik_stages_invitation.change_invitation`
    Change,
    /// `authentik_stages_invitation.delete_invitation`
    Delete,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 4] = [Self::Add, Self::View, Self::Change, Self::Delete];

    /// The full codename, e.g. `authentik_stages_invitation.add_invitation`.
    pub fn codename(self) -> &'static str {
        match self {
            Self::Add => "authentik_stages_invitation.add_invitation",
            Self::View => "authentik_stages_invitation.view_invitation",
            Self::Change => "authentik_stages_invitation.change_invitation",
            Self::Delete => "authentik_stages_invitation.delete_invitation",
        }
    }

    /// Reads a full codename.
    pub fn from_codename(codename: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.codename() == codename)
    }
}

/// What an authorizer or authenticator can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The backing service cannot be reached right now.
    #[error("authorization service is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else.
    #[error("authorization check failed")]
    Backend(#[source] BoxError),
}

/// Decides what a caller may do.
///
/// # Contract
/// `is_allowed` answers whether `principal` holds `permission` on
/// invitations; `Ok(false)` for an unknown principal. It has no side effects.
#[async_trait]
pub trait Authorizer: Send + Sync + Debug + 'static {
    /// Whether the caller holds the permission.
    async fn is_allowed(
        &self,
        principal: &Principal,
        permission: Permission,
    ) -> Result<bool, AuthError>;
}

/// Turns an API token into a caller (used by the HTTP adapter).
///
/// # Contract
/// `authenticate` returns `Ok(None)` for an unknown token or one whose user
/// is inactive; it compares tokens exactly and has no side effects.
#[async_trait]
pub trait Authenticator: Send + Sync + Debug + 'static {
    /// The caller this token stands for.
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, AuthError>;
}

/// The time.
///
/// # Contract
/// `now` returns the current instant; it may be called many times per
/// operation and must not go backwards within one process.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// Makes invitation ids, which are also secret tokens.
///
/// # Contract
/// `new_id` returns an id never returned before; in production it must be
/// unguessable (random v4 UUIDs, as [`RandomIds`] makes).
pub trait IdGenerator: Send + Sync + Debug + 'static {
    /// A fresh id.
    fn new_id(&self) -> InvitationId;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Random (v4) UUIDs from the operating system's generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> InvitationId {
        InvitationId::from_uuid(uuid::Uuid::new_v4())
    }
}

/// Something that happened to an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvitationEvent {
    /// Created by `by`.
    Created {
        /// The new invitation.
        invitation: InvitationId,
        /// Who created it.
        by: UserId,
    },
    /// Updated (full or partial) by `by`.
    Updated {
        /// The invitation.
        invitation: InvitationId,
        /// Who changed it.
        by: UserId,
    },
    /// Deleted through the API by `by`.
    Deleted {
        /// The invitation.
        invitation: InvitationId,
        /// Who deleted it.
        by: UserId,
    },
    /// Invitation mails queued by `by` (`send_email`).
    EmailQueued {
        /// The invitation.
        invitation: InvitationId,
        /// Who sent them.
        by: UserId,
        /// How many mails.
        mails: usize,
    },
    /// An invitation mail was given up undelivered (the dispatcher's).
    EmailFailed {
        /// The invitation.
        invitation: InvitationId,
        /// Its `To` address, redacted.
        to: String,
        /// Why.
        error: String,
    },
    /// Redeemed (authentik's `invitation_used` event).
    Used {
        /// The invitation.
        invitation: InvitationId,
        /// The flow that redeemed it; `None` outside any flow.
        flow: Option<FlowId>,
    },
}

impl InvitationEvent {
    /// The event's action name: authentik's `model_created`,
    /// `model_updated`, `model_deleted` or `invitation_used`, and the
    /// library's own `invitation_email_queued` and `invitation_email_failed`.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Created { .. } => "model_created",
            Self::Updated { .. } => "model_updated",
            Self::Deleted { .. } => "model_deleted",
            Self::Used { .. } => "invitation_used",
            Self::EmailQueued { .. } => "invitation_email_queued",
            Self::EmailFailed { .. } => "invitation_email_failed",
        }
    }
}

/// Receives events.
///
/// # Contract
/// `record` is called once per successful operation, after the write is
/// durable, and never for a refused or failed one. It cannot fail the
/// operation: a sink that must not lose events keeps its own outbox.
#[async_trait]
pub trait EventSink: Send + Sync + Debug + 'static {
    /// Takes one event.
    async fn record(&self, event: InvitationEvent);
}

/// An event sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn record(&self, _event: InvitationEvent) {}
}

/// Grants every permission to every caller: for a host that authorizes
/// before it calls the use cases. Never a default: a host names it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn is_allowed(&self, _: &Principal, _: Permission) -> Result<bool, AuthError> {
        Ok(true)
    }
}

/// The flow directory of a host without flows: it knows no flow, so every
/// invitation is unbound (binding one is a field error on `flow`) and is
/// redeemed with `redeem(token, None)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFlows;

#[async_trait]
impl FlowDirectory for NoFlows {
    async fn flow(&self, _: &FlowId) -> Result<Option<Arc<FlowSummary>>, DirectoryError> {
        Ok(None)
    }
    async fn flows(&self, _: &[FlowId]) -> Result<Vec<Arc<FlowSummary>>, DirectoryError> {
        Ok(Vec::new())
    }
    async fn find_by_slug(&self, _: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(Vec::new())
    }
    async fn search_slugs(&self, _: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(Vec::new())
    }
}

/// The user directory of a host that does not give one: a creator is shown
/// from its id alone (`username` is the id's digits, active), the
/// `created_by__username` filter takes those digits, and a search matches
/// no username.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUsers;

impl NoUsers {
    fn summary(id: UserId) -> Arc<UserSummary> {
        Arc::new(UserSummary::new(id, id.to_string()))
    }
}

#[async_trait]
impl UserDirectory for NoUsers {
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError> {
        Ok(Some(Self::summary(*id)))
    }
    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError> {
        Ok(ids.iter().copied().map(Self::summary).collect())
    }
    async fn find_by_username(&self, username: &str) -> Result<Vec<UserId>, DirectoryError> {
        // Only the canonical digits name a user, as `summary` writes them.
        Ok(username
            .parse::<i64>()
            .ok()
            .map(UserId::new)
            .filter(|id| id.to_string() == username)
            .into_iter()
            .collect())
    }
    async fn search_usernames(&self, _: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl<T: InvitationStore + ?Sized> InvitationStore for Arc<T> {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        (**self).insert(invitation).await
    }
    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        (**self).get(id).await
    }
    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        (**self).update(id, patch, expected).await
    }
    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        (**self).delete(id, expected).await
    }
    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        (**self).list(query).await
    }
    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        (**self).redeem(id, flow, now).await
    }
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).purge_expired(now).await
    }
    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        (**self).unbind_flow(flow).await
    }
    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        (**self).delete_created_by(user).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
}
