//! Invitation e-mail (spec §6): what the `send_email` use case queues, the
//! ports it queues through and renders with, and the dispatcher that
//! delivers the queue through a [`Mailer`] with retries.
//!
//! A request's mails are rendered and stored in the [`MailOutbox`] (durably,
//! in one write) before the use case answers; delivery happens later, in
//! [`dispatch_due`], which a host runs on a timer. So an SMTP outage delays
//! mail and loses none, and a crash between a mail server's acceptance and
//! the outbox's record sends that mail again with the same `Message-ID`
//! (derived from its [`MailId`]), which receivers recognise.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ids::InvitationId;
use crate::ports::{BoxError, StoreError};

/// The template `send_email` renders when the request names none.
pub const DEFAULT_TEMPLATE: &str = "email/invitation.html";

/// Most addresses (to, cc and bcc together) one `send_email` request may
/// name.
pub const MAX_RECIPIENTS: usize = 100;

/// An e-mail address: an RFC 5322 `addr-spec` (`local@domain`), as lettre
/// parses it. Display names, comments and line breaks are refused, so an
/// address can never carry a header of its own.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(lettre::Address);

impl EmailAddress {
    /// Parses an address.
    ///
    /// # Errors
    /// [`InvalidEmailAddress`] (keeping the text, for the message).
    pub fn parse(text: &str) -> Result<Self, InvalidEmailAddress> {
        text.parse::<lettre::Address>()
            .map(Self)
            .map_err(|_| InvalidEmailAddress(text.to_owned()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The address with its local part hidden but for its first character
    /// (`a***@example.org`): what logs may show.
    pub fn redacted(&self) -> String {
        let (user, domain) = (self.0.user(), self.0.domain());
        let first = user.chars().next().unwrap_or('*');
        format!("{first}***@{domain}")
    }
}

impl FromStr for EmailAddress {
    type Err = InvalidEmailAddress;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A text that is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid email address: {0}")]
pub struct InvalidEmailAddress(pub String);

/// The public address of the site whose enrollment flows the links open:
/// a scheme (`http` or `https`) and a host (with its port, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    scheme: &'static str,
    host: String,
}

/// A text that is not a site address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a site address (http:// or https:// and a host): {0:?}")]
pub struct InvalidSite(pub String);

impl Site {
    /// A site from its scheme and host. The host is a DNS name, an IPv4
    /// address or a bracketed IPv6 address, optionally with a port:
    /// letters, digits and `-.:[]` only, so it can go into a URL and a
    /// mail subject as it is.
    ///
    /// # Errors
    /// [`InvalidSite`] for another scheme or any other character.
    pub fn new(scheme: &str, host: &str) -> Result<Self, InvalidSite> {
        let scheme = match scheme {
            "http" => "http",
            "https" => "https",
            _ => return Err(InvalidSite(format!("{scheme}://{host}"))),
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
        if host.is_empty() || host.len() > 255 || !host.chars().all(allowed) {
            return Err(InvalidSite(format!("{scheme}://{host}")));
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
        })
    }

    /// Parses `https://host[:port]` (a trailing `/` is allowed, no path).
    ///
    /// # Errors
    /// [`InvalidSite`] for anything else.
    pub fn parse(url: &str) -> Result<Self, InvalidSite> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| InvalidSite(url.to_owned()))?;
        Self::new(scheme, rest.strip_suffix('/').unwrap_or(rest))
            .map_err(|_| InvalidSite(url.to_owned()))
    }

    /// The host (with its port, if any).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The enrollment link for an invitation: authentik's
    /// `{scheme}://{host}/if/flow/{flow_slug}/?itoken={pk}`.
    pub fn invitation_link(&self, flow_slug: &str, invitation: &InvitationId) -> String {
        format!(
            "{}://{}/if/flow/{}/?itoken={}",
            self.scheme,
            self.host,
            percent_encoding::utf8_percent_encode(flow_slug, PATH_SEGMENT),
            invitation
        )
    }
}

/// What a link's path segment keeps as it is: RFC 3986's unreserved
/// characters (a slug normally has nothing else); the rest is
/// percent-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a `send_email` request asks for, as given: the use case checks it
/// in authentik's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendEmail {
    /// One mail goes to each.
    pub to: Vec<String>,
    /// Copied on every mail.
    pub cc: Vec<String>,
    /// Blind-copied on every mail (never in a header).
    pub bcc: Vec<String>,
    /// The template's name; `None` is [`DEFAULT_TEMPLATE`].
    pub template: Option<String>,
}

/// What a template is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationMail {
    /// The enrollment link.
    pub url: String,
    /// The site's host.
    pub host: String,
    /// When the invitation expires, if it does.
    pub expires: Option<DateTime<Utc>>,
    /// Who sends it: the caller's display name, else their username.
    pub inviter: String,
    /// The invitation's name.
    pub invitation_name: String,
}

/// A rendered mail body: HTML and its plain-text alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// No template has this name.
    #[error("Template {0:?} does not exist.")]
    NotFound(String),
    /// The name is not a relative path inside the templates (`..`, an
    /// absolute path, a control character).
    #[error("Template name {0:?} is not allowed.")]
    NotAllowed(String),
    /// The template failed to render.
    #[error("Template {name:?} could not be rendered.")]
    Render {
        /// The template.
        name: String,
        /// What the engine said.
        #[source]
        source: BoxError,
    },
}

/// An outgoing mail's id: its row in the outbox, and the source of its
/// `Message-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(uuid::Uuid);

impl MailId {
    /// The id of a UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// A mail in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// Its id.
    pub id: MailId,
    /// The invitation it carries.
    pub invitation: InvitationId,
    /// The one `To` address.
    pub to: EmailAddress,
    /// `Cc` addresses.
    pub cc: Vec<EmailAddress>,
    /// Envelope-only recipients.
    pub bcc: Vec<EmailAddress>,
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: RenderedMail,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// An outbox row's columns as a storage adapter read them back, before
/// [`QueuedMail::from_stored`] checks them: what each outbox adapter
/// fills from its own column types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMail<'a> {
    /// `id`
    pub id: uuid::Uuid,
    /// `invitation`
    pub invitation: uuid::Uuid,
    /// The `To` address's text.
    pub to: &'a str,
    /// The `Cc` addresses' texts.
    pub cc: Vec<&'a str>,
    /// The envelope-only addresses' texts.
    pub bcc: Vec<&'a str>,
    /// `subject`
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The text part.
    pub text: String,
    /// `queued_at`
    pub queued_at: DateTime<Utc>,
    /// `attempts`, as stored.
    pub attempts: i64,
}

impl QueuedMail {
    /// Rebuilds a queued mail from a stored row, checking it again: what an
    /// outbox adapter calls after reading one.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] (its `id` is `None`: the field names
    /// invitations) naming the mail and the column, when an address is not
    /// one or the attempt count is out of range. The address's text is
    /// left out of the error: errors are logged.
    pub fn from_stored(row: StoredMail<'_>) -> Result<Self, StoreError> {
        let id = row.id;
        let bad =
            |what: String| StoreError::corrupt(None, format!("outbox mail {id}: {what}"), None);
        let address = |text: &str, name: &str| {
            EmailAddress::parse(text).map_err(|_| bad(format!("{name} holds no e-mail address")))
        };
        let addresses = |texts: Vec<&str>, name: &str| -> Result<Vec<EmailAddress>, StoreError> {
            texts.into_iter().map(|t| address(t, name)).collect()
        };
        Ok(Self {
            id: MailId::from_uuid(id),
            invitation: InvitationId::from_uuid(row.invitation),
            to: address(row.to, "to_address")?,
            cc: addresses(row.cc, "cc")?,
            bcc: addresses(row.bcc, "bcc")?,
            subject: row.subject,
            body: RenderedMail {
                html: row.html,
                text: row.text,
            },
            queued_at: row.queued_at,
            attempts: u32::try_from(row.attempts)
                .map_err(|_| bad(format!("attempts {} is out of range", row.attempts)))?,
        })
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The mail server accepted it.
    Sent,
    /// It failed and is tried again at `next`.
    Retry {
        /// When.
        next: DateTime<Utc>,
        /// Why it failed (no addresses in it).
        error: String,
    },
    /// It failed for good.
    GaveUp {
        /// Why.
        error: String,
    },
}

impl Attempt {
    /// What an outbox records for a mail it claimed but cannot read back
    /// (`error` is the [`StoreError::Corrupt`] reading it gave): given up,
    /// saying why, so that one bad row neither fails every claim that
    /// reaches it nor holds back the mails claimed with it. `None` for any
    /// other error.
    pub fn unreadable(error: &StoreError) -> Option<Self> {
        match error {
            StoreError::Corrupt { reason, .. } => Some(Self::GaveUp {
                error: format!("the stored mail cannot be read: {reason}"),
            }),
            _ => None,
        }
    }
}

/// The rows a claim leased, read: the mails, and the rows that cannot be
/// read back, each with the attempt to record for it.
#[derive(Debug)]
pub struct ClaimedRows<'r, R> {
    /// The mails read, in the rows' order.
    pub mails: Vec<QueuedMail>,
    /// The rows `read` found corrupt, each with its
    /// [`Attempt::unreadable`], for the outbox to record as
    /// [`MailOutbox`]'s contract says.
    pub unreadable: Vec<(&'r R, Attempt)>,
}

impl<'r, R> ClaimedRows<'r, R> {
    /// Gives up each unreadable row through `give_up` (the adapter's write
    /// of the attempt to the row, by whatever identifies it; `Ok` without
    /// writing when not even its id can be read) and returns the mails
    /// read. Best effort: the first failed write ends the round, and a row
    /// not given up comes round again once its lease ends.
    pub async fn give_up_unreadable<F, Fut>(self, mut give_up: F) -> Vec<QueuedMail>
    where
        F: FnMut(&'r R, Attempt) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        for (row, gave_up) in self.unreadable {
            if give_up(row, gave_up).await.is_err() {
                break;
            }
        }
        self.mails
    }
}

/// Reads the rows a claim leased with `read` (an adapter's row reader,
/// which checks through [`QueuedMail::from_stored`]).
///
/// # Errors
/// Any error of `read` but [`StoreError::Corrupt`].
pub fn read_claimed<R>(
    rows: &[R],
    read: impl Fn(&R) -> Result<QueuedMail, StoreError>,
) -> Result<ClaimedRows<'_, R>, StoreError> {
    let mut claimed = ClaimedRows {
        mails: Vec::with_capacity(rows.len()),
        unreadable: Vec::new(),
    };
    for row in rows {
        match read(row) {
            Ok(mail) => claimed.mails.push(mail),
            Err(error) => match Attempt::unreadable(&error) {
                Some(gave_up) => claimed.unreadable.push((row, gave_up)),
                None => return Err(error),
            },
        }
    }
    Ok(claimed)
}

/// The durable queue of outgoing invitation mail.
///
/// # Contract
/// - `enqueue` stores every mail given, or none (one write), with no
///   attempts; each is due from its `queued_at`. An id already queued is
///   [`StoreError::MailConflict`] and stores none.
/// - `claim` returns up to `limit` mails that are due at `now` (neither
///   sent nor given up, next attempt at or before `now`, no lease running
///   at `now`), oldest first, and leases each until `lease_until`: no claim
///   returns it again before then, whoever asks (other processes on the
///   same storage included). `attempts` counts the attempts recorded so far.
///   A due mail whose stored row cannot be read back (written by hand, by
///   another version, or by a bug) is not returned: the claim records it
///   given up ([`Attempt::unreadable`], [`read_claimed`]) and returns the
///   others. Giving it up is best effort: should that write fail, the
///   claim still returns the others, and the row comes round again once
///   its lease ends.
/// - `record(id, attempt, now)` ends the lease: `Sent` and `GaveUp` take
///   the mail out of every later claim; `Retry` makes it due again at its
///   `next`; each adds one to `attempts`. A mail once sent or given up stays
///   so whatever is recorded later (a dispatcher whose lease ran out may
///   record late). An unknown id is no error.
/// - `purge_finished(before)` deletes the mails sent or given up before
///   `before` and returns how many; it never deletes one still due.
#[async_trait::async_trait]
pub trait MailOutbox: Send + Sync + fmt::Debug {
    /// Queues mails, all or none.
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError>;
    /// Leases the mails due now.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;
    /// Records one attempt's outcome.
    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes finished mails.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// `impl MailOutbox for $outbox`, every method handed to the value
/// `$outbox`'s method `$to()` returns: the outbox's counterpart of
/// [`forward_store!`](crate::forward_store).
#[macro_export]
macro_rules! forward_outbox {
    ($outbox:ty => $to:ident) => {
        #[$crate::async_trait]
        impl $crate::MailOutbox for $outbox {
            async fn enqueue(
                &self,
                mails: &[$crate::QueuedMail],
            ) -> Result<(), $crate::StoreError> {
                self.$to().enqueue(mails).await
            }
            async fn claim(
                &self,
                now: $crate::chrono::DateTime<$crate::chrono::Utc>,
                lease_until: $crate::chrono::DateTime<$crate::chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::QueuedMail>, $crate::StoreError> {
                self.$to().claim(now, lease_until, limit).await
            }
            async fn record(
                &self,
                id: &$crate::MailId,
                attempt: &$crate::Attempt,
                now: $crate::chrono::DateTime<$crate::chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.$to().record(id, attempt, now).await
            }
            async fn purge_finished(
                &self,
                before: $crate::chrono::DateTime<$crate::chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                self.$to().purge_finished(before).await
            }
        }
    };
}

/// Renders invitation mails.
///
/// # Contract
/// `render(name, mail)` renders the template called `name` with `mail`'s
/// values, or answers [`TemplateError::NotAllowed`] for a name outside its
/// templates and [`TemplateError::NotFound`] for an unknown one, reading
/// nothing outside its templates either way. Values are escaped for HTML
/// in the HTML part.
pub trait MailTemplates: Send + Sync + fmt::Debug {
    /// Renders one mail.
    fn render(&self, name: &str, mail: &InvitationMail) -> Result<RenderedMail, TemplateError>;
}

/// Why a mail was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// It may go through later (the server is down, busy, or answered 4xx).
    #[error("mail delivery failed for now")]
    Transient(#[source] BoxError),
    /// It never will (the server refused it for good, 5xx).
    #[error("mail delivery failed")]
    Permanent(#[source] BoxError),
}

/// Delivers one mail (over SMTP, or the host's mail system).
///
/// # Contract
/// `send` hands the mail over and answers `Ok` once the receiving server
/// accepted it. Its `Message-ID` is derived from `mail.id` alone, the same
/// on every attempt. `Bcc` addresses are envelope recipients only, never in
/// a header.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one mail.
    async fn send(&self, mail: &QueuedMail) -> Result<(), MailError>;
}

/// How [`dispatch_due`] retries.
///
/// The default: batches of 8, a lease of 10 minutes per claim (longer than
/// a batch can take with a mailer that gives up on a server after 30 s:
/// a lease that ran out lets another dispatcher send the same mails), the first
/// retry 30 s after a failure, each later one twice as long after the
/// previous (30 s, 1 min, 2 min, … capped at 1 h), and giving up on a mail
/// still undelivered 24 h after it was queued (or at once on a permanent
/// refusal). Finished mails are kept 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Mails per claim.
    pub batch: u32,
    /// How long a claim holds its mails: more than `batch` times the
    /// mailer's longest attempt.
    pub lease: Duration,
    /// The wait after the first failure.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// How long after queueing a mail is given up.
    pub give_up_after: Duration,
    /// How long sent and given-up mails are kept.
    pub keep_finished: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            batch: 8,
            lease: Duration::from_secs(10 * 60),
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(60 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
            keep_finished: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after a mail's `attempts`-th failed attempt (1-based).
    pub fn wait_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// What one [`dispatch_due`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Mails the server accepted.
    pub sent: u32,
    /// Mails that failed and wait for another attempt.
    pub retrying: u32,
    /// Mails given up.
    pub given_up: u32,
}

/// One outcome per claimed mail, to report or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    /// The mail.
    pub mail: MailId,
    /// Its invitation.
    pub invitation: InvitationId,
    /// Its `To` address, redacted.
    pub to: String,
    /// Why.
    pub error: String,
}

/// Delivers the mails due at `now`, one batch after another until none is
/// due: claims a batch, sends each, records each outcome by `policy`, and
/// returns what happened, with the mails given up (for the host's log and
/// events). A host runs it on a timer (the server: every few seconds);
/// several processes may run it against one outbox at once.
///
/// # Errors
/// The outbox's failures (mail failures are outcomes, not errors).
pub async fn dispatch_due(
    outbox: &dyn MailOutbox,
    mailer: &dyn Mailer,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<(DispatchReport, Vec<GivenUp>), StoreError> {
    let mut report = DispatchReport::default();
    let mut given_up = Vec::new();
    loop {
        let lease_until = now + chrono(policy.lease);
        let batch = outbox.claim(now, lease_until, policy.batch).await?;
        if batch.is_empty() {
            break;
        }
        let full = batch.len() >= policy.batch as usize;
        for mail in batch {
            let attempt = match mailer.send(&mail).await {
                Ok(()) => {
                    report.sent += 1;
                    Attempt::Sent
                }
                Err(e) => {
                    let error = redacted_error(&e, &mail);
                    let expired = now - mail.queued_at >= chrono(policy.give_up_after);
                    if matches!(e, MailError::Permanent(_)) || expired {
                        report.given_up += 1;
                        given_up.push(GivenUp {
                            mail: mail.id,
                            invitation: mail.invitation,
                            to: mail.to.redacted(),
                            error: error.clone(),
                        });
                        Attempt::GaveUp { error }
                    } else {
                        report.retrying += 1;
                        let next = now + chrono(policy.wait_after(mail.attempts + 1));
                        Attempt::Retry { next, error }
                    }
                }
            };
            outbox.record(&mail.id, &attempt, now).await?;
        }
        if !full {
            break;
        }
    }
    Ok((report, given_up))
}

/// An error and its sources, `: `-separated, with the mail's addresses
/// redacted (a mail server's refusal often quotes the recipient).
fn redacted_error(error: &MailError, mail: &QueuedMail) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    for address in std::iter::once(&mail.to).chain(&mail.cc).chain(&mail.bcc) {
        text = text.replace(address.as_str(), &address.redacted());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(cc: Vec<&str>, attempts: i64) -> StoredMail<'_> {
        StoredMail {
            id: uuid::Uuid::from_u128(7),
            invitation: uuid::Uuid::from_u128(8),
            to: "to@example.org",
            cc,
            bcc: Vec::new(),
            subject: "s".to_owned(),
            html: "h".to_owned(),
            text: "t".to_owned(),
            queued_at: DateTime::from_timestamp_micros(1).unwrap(),
            attempts,
        }
    }

    #[test]
    fn a_stored_mail_is_checked_again_and_a_bad_one_is_corrupt_without_its_address() {
        let mail = QueuedMail::from_stored(stored(vec!["cc@example.org"], 3)).unwrap();
        assert_eq!(mail.cc[0].as_str(), "cc@example.org");
        assert_eq!(mail.attempts, 3);
        for (cc, attempts, column) in [
            (vec!["secret\r\nBcc: x@evil.example"], 0, "cc"),
            (vec![], -1, "attempts"),
            (vec![], i64::from(u32::MAX) + 1, "attempts"),
        ] {
            let Err(StoreError::Corrupt { id, reason, .. }) =
                QueuedMail::from_stored(stored(cc, attempts))
            else {
                panic!("{column}: not corrupt");
            };
            assert_eq!(id, None);
            assert!(
                reason.starts_with(&format!(
                    "outbox mail {}: {column}",
                    uuid::Uuid::from_u128(7)
                )),
                "{reason}"
            );
            assert!(!reason.contains("secret"), "{reason}");
        }
    }

    #[test]
    fn addresses_are_addr_specs_without_names_or_line_breaks() {
        assert_eq!(
            EmailAddress::parse("bob@example.org").unwrap().as_str(),
            "bob@example.org"
        );
        for bad in [
            "",
            "bob",
            "Bob <bob@example.org>",
            "bob@example.org\r\nBcc: eve@example.org",
            "bob@example.org\n",
            "a b@example.org",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(InvalidEmailAddress(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            EmailAddress::parse("bob@example.org").unwrap().redacted(),
            "b***@example.org"
        );
    }

    #[test]
    fn a_site_is_a_scheme_and_a_plain_host() {
        let site = Site::parse("https://Id.Example.org:8443/").unwrap();
        assert_eq!(site.host(), "id.example.org:8443");
        let id = InvitationId::parse("00000000-0000-0000-0000-00000000000a").unwrap();
        assert_eq!(
            site.invitation_link("sign-up", &id),
            "https://id.example.org:8443/if/flow/sign-up/?itoken=00000000-0000-0000-0000-00000000000a"
        );
        assert!(site
            .invitation_link("a b/é~", &id)
            .contains("/if/flow/a%20b%2F%C3%A9~/?itoken="));
        for bad in [
            "ftp://x",
            "https://",
            "https://a/b",
            "https://a\r\nb",
            "https://a b",
            "x",
        ] {
            assert!(Site::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn retries_double_from_30_seconds_up_to_an_hour() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=9).map(|n| policy.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.wait_after(u32::MAX).as_secs(), 3600);
    }
}
