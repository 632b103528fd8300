//! Test doubles for the non-storage ports, for hosts' own unit tests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use invitation_core::{
    AuthError, Authorizer, Clock, EventSink, IdGenerator, InvitationEvent, InvitationId,
    Permission, Principal, UserId,
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

/// Grants every permission to everyone (the core's own, re-exported here
/// beside the other doubles).
pub use invitation_core::AllowAll;

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

/// A fixed set of users (with API tokens) and flows: the in-memory
/// directory, which implements [`invitation_core::UserDirectory`],
/// [`invitation_core::FlowDirectory`] and [`invitation_core::Authenticator`]
/// (and [`Authorizer`], for the permissions granted with `with_permission`).
///
/// Flow ids added with `with_flow` are derived from their slugs, so tests
/// can name them before building the directory
/// ([`StaticDirectory::flow_id_for`]).
pub type StaticDirectory = invitation_memory::MemoryDirectory;
