//! Test doubles for the non-storage ports, for hosts' own unit tests.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use invitation_core::{
    contains_ignore_ascii_case, AuthError, Authenticator, Authorizer, Clock, DirectoryError,
    EventSink, FlowDesignation, FlowDirectory, FlowId, FlowSummary, IdGenerator, InvitationEvent,
    InvitationId, Permission, Principal, UserDirectory, UserId, UserSummary,
};
use uuid::Uuid;

/// A clock that stands still until told to move.
#[derive(Debug)]
pub struct SettableClock {
    micros: AtomicU64,
}

impl SettableClock {
    /// Stands at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        let clock = Self {
            micros: AtomicU64::new(0),
        };
        clock.set(now);
        clock
    }

    /// Stands at 2030-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::at(
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        )
    }

    /// Moves to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        let micros = u64::try_from(now.timestamp_micros()).unwrap_or(0);
        self.micros.store(micros, Ordering::SeqCst);
    }

    /// Moves forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.set(self.now() + by);
    }

    /// The time it stands at, plus `by`.
    pub fn now_plus(&self, by: Duration) -> DateTime<Utc> {
        self.now() + by
    }
}

impl Default for SettableClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        let micros = i64::try_from(self.micros.load(Ordering::SeqCst)).unwrap_or(0);
        DateTime::from_timestamp_micros(micros).unwrap_or_default()
    }
}

/// Ids `00000000-0000-4000-8000-000000000001`, `…02`, … in order.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl SequentialIds {
    /// Starts at 1.
    pub fn new() -> Self {
        Self::default()
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> InvitationId {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        InvitationId::from_uuid(Uuid::from_u128(
            0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n),
        ))
    }
}

/// Grants every permission to everyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn is_allowed(&self, _: &Principal, _: Permission) -> Result<bool, AuthError> {
        Ok(true)
    }
}

/// Refuses every permission to everyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

#[async_trait]
impl Authorizer for DenyAll {
    async fn is_allowed(&self, _: &Principal, _: Permission) -> Result<bool, AuthError> {
        Ok(false)
    }
}

/// Grants exactly the (user, permission) pairs it is given.
#[derive(Debug, Clone, Default)]
pub struct PermissionTable {
    grants: HashSet<(UserId, Permission)>,
}

impl PermissionTable {
    /// Grants nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `permission` to `user`.
    #[must_use]
    pub fn grant(mut self, user: i64, permission: Permission) -> Self {
        self.grants.insert((UserId::new(user), permission));
        self
    }

    /// Grants every invitation permission to `user`.
    #[must_use]
    pub fn grant_all(self, user: i64) -> Self {
        Permission::ALL
            .into_iter()
            .fold(self, |t, p| t.grant(user, p))
    }
}

#[async_trait]
impl Authorizer for PermissionTable {
    async fn is_allowed(&self, who: &Principal, permission: Permission) -> Result<bool, AuthError> {
        Ok(self.grants.contains(&(who.user_id(), permission)))
    }
}

/// Records every event, for assertions.
#[derive(Debug, Default)]
pub struct RecordingEvents {
    events: Mutex<Vec<InvitationEvent>>,
}

impl RecordingEvents {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, in order.
    pub fn events(&self) -> Vec<InvitationEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl EventSink for RecordingEvents {
    async fn record(&self, event: InvitationEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

/// A fixed set of users (with API tokens) and flows: implements
/// [`UserDirectory`], [`FlowDirectory`] and [`Authenticator`].
///
/// Flow ids are derived from their slugs, so tests can name them before
/// building the directory ([`StaticDirectory::flow_id`]).
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    users: HashMap<UserId, Arc<UserSummary>>,
    flows: HashMap<FlowId, Arc<FlowSummary>>,
    tokens: HashMap<String, UserId>,
}

impl StaticDirectory {
    /// No users, no flows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an active user with this key and username.
    #[must_use]
    pub fn with_user(self, pk: i64, username: &str) -> Self {
        self.with_user_summary(UserSummary::new(UserId::new(pk), username))
    }

    /// Adds a user as given.
    #[must_use]
    pub fn with_user_summary(mut self, user: UserSummary) -> Self {
        self.users.insert(user.pk, Arc::new(user));
        self
    }

    /// Adds an API token for user `pk`.
    #[must_use]
    pub fn with_token(mut self, pk: i64, token: &str) -> Self {
        self.tokens.insert(token.to_owned(), UserId::new(pk));
        self
    }

    /// Adds an enrollment flow with this slug (its id is [`Self::flow_id_for`]).
    #[must_use]
    pub fn with_flow(self, slug: &str) -> Self {
        self.with_flow_summary(FlowSummary::new(
            Self::flow_id_for(slug),
            slug,
            slug,
            slug,
            FlowDesignation::Enrollment,
        ))
    }

    /// Adds a flow as given.
    #[must_use]
    pub fn with_flow_summary(mut self, flow: FlowSummary) -> Self {
        self.flows.insert(flow.pk, Arc::new(flow));
        self
    }

    /// The id of the flow with this slug, if it was added.
    pub fn flow_id(&self, slug: &str) -> Option<FlowId> {
        self.flows.values().find(|f| f.slug == slug).map(|f| f.pk)
    }

    /// The id [`Self::with_flow`] gives a slug (a v5-style hash of it).
    pub fn flow_id_for(slug: &str) -> FlowId {
        // FNV-1a over the slug, spread over 128 bits; stable across runs.
        let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for byte in slug.bytes() {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
        let uuid = uuid::Builder::from_u128(hash)
            .with_variant(uuid::Variant::RFC4122)
            .with_version(uuid::Version::Sha1)
            .into_uuid();
        FlowId::from_uuid(uuid)
    }
}

#[async_trait]
impl UserDirectory for StaticDirectory {
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError> {
        Ok(self.users.get(id).cloned())
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError> {
        Ok(ids
            .iter()
            .filter_map(|id| self.users.get(id).cloned())
            .collect())
    }

    async fn find_by_username(&self, username: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(self
            .users
            .values()
            .filter(|u| u.username == username)
            .map(|u| u.pk)
            .collect())
    }

    async fn search_usernames(&self, text: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(self
            .users
            .values()
            .filter(|u| contains_ignore_ascii_case(&u.username, text))
            .map(|u| u.pk)
            .collect())
    }
}

#[async_trait]
impl FlowDirectory for StaticDirectory {
    async fn flow(&self, id: &FlowId) -> Result<Option<Arc<FlowSummary>>, DirectoryError> {
        Ok(self.flows.get(id).cloned())
    }

    async fn flows(&self, ids: &[FlowId]) -> Result<Vec<Arc<FlowSummary>>, DirectoryError> {
        Ok(ids
            .iter()
            .filter_map(|id| self.flows.get(id).cloned())
            .collect())
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(self
            .flows
            .values()
            .filter(|f| f.slug == slug)
            .map(|f| f.pk)
            .collect())
    }

    async fn search_slugs(&self, text: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(self
            .flows
            .values()
            .filter(|f| contains_ignore_ascii_case(&f.slug, text))
            .map(|f| f.pk)
            .collect())
    }
}

#[async_trait]
impl Authenticator for StaticDirectory {
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        Ok(self
            .tokens
            .get(token)
            .filter(|id| self.users.get(id).is_some_and(|u| u.is_active))
            .map(|id| Principal::user(*id)))
    }
}
