//! Test doubles for the non-storage ports, for hosts' own unit tests.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use invitation_core::{
    AuthError, Authorizer, Clock, EmailAddress, EventSink, IdGenerator, InvitationEvent,
    InvitationId, MailError, Mailer, Permission, Principal, QueuedMail, UserId,
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

/// How [`RecordingMailer`] answers for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Transient,
    Permanent,
}

/// A [`Mailer`] that keeps what it is given instead of sending it, and
/// refuses mail for the addresses it is told to, transiently (as a mail
/// server answering 4xx) or permanently (5xx).
///
/// A mail is refused when any of its recipients (to, cc or bcc) is set to
/// fail; the error's text quotes that address, as mail servers' answers
/// do. Everything else is accepted and recorded. Shared behind an `Arc`,
/// the test changes its answers between dispatches.
#[derive(Debug, Default)]
pub struct RecordingMailer {
    state: Mutex<MailerState>,
}

#[derive(Debug, Default)]
struct MailerState {
    refusals: HashMap<EmailAddress, Refusal>,
    sent: Vec<QueuedMail>,
    tried: Vec<QueuedMail>,
}

impl RecordingMailer {
    /// Accepts every mail.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MailerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, mail to `address` fails with [`MailError::Transient`].
    pub fn fail_transiently(&self, address: &EmailAddress) {
        self.state()
            .refusals
            .insert(address.clone(), Refusal::Transient);
    }

    /// From now on, mail to `address` fails with [`MailError::Permanent`].
    pub fn fail_permanently(&self, address: &EmailAddress) {
        self.state()
            .refusals
            .insert(address.clone(), Refusal::Permanent);
    }

    /// From now on, mail to `address` is accepted again.
    pub fn accept(&self, address: &EmailAddress) {
        self.state().refusals.remove(address);
    }

    /// The mails accepted so far, in order, as they were handed over.
    pub fn sent(&self) -> Vec<QueuedMail> {
        self.state().sent.clone()
    }

    /// Every mail handed over so far, accepted or not, in order.
    pub fn tried(&self) -> Vec<QueuedMail> {
        self.state().tried.clone()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &QueuedMail) -> Result<(), MailError> {
        let mut state = self.state();
        state.tried.push(mail.clone());
        let refused = std::iter::once(&mail.to)
            .chain(&mail.cc)
            .chain(&mail.bcc)
            .find_map(|a| state.refusals.get(a).map(|r| (a, *r)));
        match refused {
            None => {
                state.sent.push(mail.clone());
                Ok(())
            }
            Some((address, Refusal::Transient)) => Err(MailError::Transient(
                format!("451 4.2.1 <{address}>: mailbox busy, try again later").into(),
            )),
            Some((address, Refusal::Permanent)) => Err(MailError::Permanent(
                format!("550 5.1.1 <{address}>: no such user").into(),
            )),
        }
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
