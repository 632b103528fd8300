//! [`MemoryDirectory`]: users, API tokens, permissions and flows held in
//! memory, as one value implementing the directory, authentication and
//! authorization ports.

use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;
use std::sync::Arc;

use async_trait::async_trait;
use invitation_core::{
    AuthError, Authenticator, Authorizer, DirectoryError, FlowDesignation, FlowDirectory, FlowId,
    FlowSummary, Permission, Principal, UserDirectory, UserId, UserSummary,
};

/// The directory's maps. Their keys are set by whoever builds the directory
/// and only looked up by callers (a token lookup inserts nothing), so
/// foldhash's speed is safe here: nobody can fill a table with collisions.
type Map<K, V> = HashMap<K, V, RandomState>;

/// Users (with their API tokens and permissions) and flows, in memory.
///
/// Implements [`UserDirectory`], [`FlowDirectory`], [`Authenticator`] (a
/// token of an inactive user authenticates nobody) and [`Authorizer`]
/// (exactly the permissions granted). Build it with the `with_…` methods,
/// or fill it with the `insert_…` ones, then share it in an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct MemoryDirectory {
    users: Map<UserId, Arc<UserSummary>>,
    flows: Map<FlowId, Arc<FlowSummary>>,
    tokens: Map<String, UserId>,
    permissions: Map<UserId, HashSet<Permission, RandomState>>,
}

impl MemoryDirectory {
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
        self.insert_user(user);
        self
    }

    /// Adds an API token for user `pk`.
    #[must_use]
    pub fn with_token(mut self, pk: i64, token: &str) -> Self {
        self.insert_token(token, UserId::new(pk));
        self
    }

    /// Grants `permission` to user `pk`.
    #[must_use]
    pub fn with_permission(mut self, pk: i64, permission: Permission) -> Self {
        self.grant(UserId::new(pk), permission);
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
        self.insert_flow(flow);
        self
    }

    /// Adds or replaces a user.
    pub fn insert_user(&mut self, user: UserSummary) {
        self.users.insert(user.pk, Arc::new(user));
    }

    /// Adds or replaces a flow.
    pub fn insert_flow(&mut self, flow: FlowSummary) {
        self.flows.insert(flow.pk, Arc::new(flow));
    }

    /// Gives an API token to `user` (taking it from whoever had it).
    pub fn insert_token(&mut self, token: &str, user: UserId) {
        self.tokens.insert(token.to_owned(), user);
    }

    /// Grants `permission` to `user`.
    pub fn grant(&mut self, user: UserId, permission: Permission) {
        self.permissions.entry(user).or_default().insert(permission);
    }

    /// A user by key.
    pub fn user_by_pk(&self, pk: i64) -> Option<&UserSummary> {
        self.users.get(&UserId::new(pk)).map(AsRef::as_ref)
    }

    /// A user by username.
    pub fn user_by_username(&self, username: &str) -> Option<&UserSummary> {
        self.users
            .values()
            .find(|u| u.username == username)
            .map(AsRef::as_ref)
    }

    /// A flow by key.
    pub fn flow_by_pk(&self, pk: &FlowId) -> Option<&FlowSummary> {
        self.flows.get(pk).map(AsRef::as_ref)
    }

    /// A flow by slug.
    pub fn flow_by_slug(&self, slug: &str) -> Option<&FlowSummary> {
        self.flows
            .values()
            .find(|f| f.slug == slug)
            .map(AsRef::as_ref)
    }

    /// The id of the flow with this slug, if there is one.
    pub fn flow_id(&self, slug: &str) -> Option<FlowId> {
        self.flow_by_slug(slug).map(|f| f.pk)
    }

    /// Whether some user holds this token.
    pub fn has_token(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    /// How many users it has.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// How many flows it has.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// How many API tokens it knows.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The id [`Self::with_flow`] gives a slug: a hash of it, stable across
    /// runs, so tests can name a flow before building the directory.
    pub fn flow_id_for(slug: &str) -> FlowId {
        // FNV-1a over the slug, spread over 128 bits.
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

/// The ids of the summaries that pass `keep`.
fn ids_where<K: Copy, V>(map: &Map<K, Arc<V>>, keep: impl Fn(&V) -> bool) -> Vec<K> {
    map.iter()
        .filter(|(_, v)| keep(v))
        .map(|(k, _)| *k)
        .collect()
}

/// The summaries of the known ids among `ids`.
fn known<K: Eq + std::hash::Hash, V>(map: &Map<K, Arc<V>>, ids: &[K]) -> Vec<Arc<V>> {
    ids.iter().filter_map(|id| map.get(id).cloned()).collect()
}

#[async_trait]
impl UserDirectory for MemoryDirectory {
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError> {
        Ok(self.users.get(id).cloned())
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError> {
        Ok(known(&self.users, ids))
    }

    async fn find_by_username(&self, username: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(ids_where(&self.users, |u| u.username == username))
    }

    async fn search_usernames(&self, text: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(ids_where(&self.users, |u| {
            contains_ignore_ascii_case(&u.username, text)
        }))
    }
}

#[async_trait]
impl FlowDirectory for MemoryDirectory {
    async fn flow(&self, id: &FlowId) -> Result<Option<Arc<FlowSummary>>, DirectoryError> {
        Ok(self.flows.get(id).cloned())
    }

    async fn flows(&self, ids: &[FlowId]) -> Result<Vec<Arc<FlowSummary>>, DirectoryError> {
        Ok(known(&self.flows, ids))
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(ids_where(&self.flows, |f| f.slug == slug))
    }

    async fn search_slugs(&self, text: &str) -> Result<Vec<FlowId>, DirectoryError> {
        Ok(ids_where(&self.flows, |f| {
            contains_ignore_ascii_case(&f.slug, text)
        }))
    }
}

#[async_trait]
impl Authenticator for MemoryDirectory {
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        Ok(self
            .tokens
            .get(token)
            .filter(|id| self.users.get(id).is_some_and(|u| u.is_active))
            .map(|id| Principal::user(*id)))
    }
}

#[async_trait]
impl Authorizer for MemoryDirectory {
    async fn is_allowed(&self, who: &Principal, permission: Permission) -> Result<bool, AuthError> {
        Ok(self
            .permissions
            .get(&who.user_id())
            .is_some_and(|p| p.contains(&permission)))
    }
}

/// Whether `haystack` contains `needle`, ignoring ASCII letter case (the
/// directories' search contract).
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}
