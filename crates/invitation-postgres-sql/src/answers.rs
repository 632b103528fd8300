//! The values both adapters bind that are not a column of one invitation,
//! and what the statements' answers mean: written once, so that the two
//! adapters read `update`, `delete`, `redeem` and `enqueue` the same way.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use invitation_core::time::truncate_to_micros;
use invitation_core::{
    Attempt, DeleteOutcome, EmailAddress, FlowId, Invitation, MailId, QueuedMail, RedeemOutcome,
    StoreError, UpdateOutcome, Version,
};
use uuid::Uuid;

/// An instant as the database compares it: whole microseconds, rounded
/// down (the drivers would round instants before 2000 towards 2000, i.e.
/// up). Stored instants are whole microseconds, so `expires <= now` is
/// unchanged.
pub fn db_instant(instant: DateTime<Utc>) -> DateTime<Utc> {
    truncate_to_micros(instant)
}

/// The version a statement compares with: one no row can hold when it is
/// past `bigint` (so it never matches).
pub fn version_param(version: Version) -> i64 {
    i64::try_from(version.get()).unwrap_or(-1)
}

/// What `update`'s one row says (`written`, then the row: the one written,
/// or the one found), given whether the call expected a version.
pub fn update(written: bool, invitation: Invitation, expected: bool) -> UpdateOutcome {
    if written {
        UpdateOutcome::Updated(invitation)
    } else if expected {
        UpdateOutcome::VersionMismatch {
            current: invitation.version(),
        }
    } else {
        // Deleted by a concurrent call after the statement's snapshot.
        UpdateOutcome::NotFound
    }
}

/// What `delete`'s one row says (`deleted`, then the version).
pub fn delete(deleted: bool, current: Version, expected: bool) -> DeleteOutcome {
    if deleted {
        DeleteOutcome::Deleted
    } else if expected {
        DeleteOutcome::VersionMismatch { current }
    } else {
        DeleteOutcome::NotFound
    }
}

/// What `redeem`'s one row says (`consumed`, then the row: the one
/// deleted, or the one as the statement began), for a redemption in
/// `flow` at `now` (as bound, [`db_instant`]).
pub fn redeem(
    consumed: bool,
    invitation: Invitation,
    flow: Option<&FlowId>,
    now: DateTime<Utc>,
) -> RedeemOutcome {
    if consumed {
        RedeemOutcome::Redeemed(invitation)
    } else if invitation.is_expired_at(now) {
        RedeemOutcome::Expired
    } else if !invitation.redeemable_in(flow) {
        RedeemOutcome::WrongFlow
    } else if invitation.single_use() {
        // Valid and single-use, yet not deleted by this call: a concurrent
        // redemption consumed it first.
        RedeemOutcome::NotFound
    } else {
        RedeemOutcome::Redeemed(invitation)
    }
}

/// The enqueue conflict on the mail `id`.
pub fn mail_conflict(id: &Uuid) -> StoreError {
    StoreError::MailConflict(MailId::from_uuid(*id))
}

/// A batch of mails as `enqueue`'s nine arrays (`$1`…`$9`).
#[derive(Debug)]
pub struct EnqueueBatch<'a> {
    /// `$1`
    pub ids: Vec<Uuid>,
    /// `$2`
    pub invitations: Vec<Uuid>,
    /// `$3`
    pub to: Vec<&'a str>,
    /// `$4`: each mail's cc as a JSON array of address texts.
    pub cc: Vec<String>,
    /// `$5`: each mail's bcc, as `cc`.
    pub bcc: Vec<String>,
    /// `$6`
    pub subjects: Vec<&'a str>,
    /// `$7`
    pub html: Vec<&'a str>,
    /// `$8`
    pub text: Vec<&'a str>,
    /// `$9`, as [`db_instant`].
    pub queued_at: Vec<DateTime<Utc>>,
}

/// Addresses as the JSON array of their texts.
fn json_addresses(addresses: &[EmailAddress]) -> Result<String, StoreError> {
    let texts: Vec<&str> = addresses.iter().map(EmailAddress::as_str).collect();
    serde_json::to_string(&texts).map_err(|e| StoreError::Backend(Box::new(e)))
}

impl<'a> EnqueueBatch<'a> {
    /// The arrays of `mails`.
    ///
    /// # Errors
    /// [`StoreError::MailConflict`] naming an id the batch holds twice (the
    /// second is taken by the first).
    pub fn of(mails: &'a [QueuedMail]) -> Result<Self, StoreError> {
        let mut seen = HashSet::with_capacity(mails.len());
        let mut ids = Vec::with_capacity(mails.len());
        for mail in mails {
            let id = *mail.id.as_uuid();
            if !seen.insert(id) {
                return Err(mail_conflict(&id));
            }
            ids.push(id);
        }
        Ok(Self {
            ids,
            invitations: mails.iter().map(|m| *m.invitation.as_uuid()).collect(),
            to: mails.iter().map(|m| m.to.as_str()).collect(),
            cc: mails
                .iter()
                .map(|m| json_addresses(&m.cc))
                .collect::<Result<_, _>>()?,
            bcc: mails
                .iter()
                .map(|m| json_addresses(&m.bcc))
                .collect::<Result<_, _>>()?,
            subjects: mails.iter().map(|m| m.subject.as_str()).collect(),
            html: mails.iter().map(|m| m.body.html.as_str()).collect(),
            text: mails.iter().map(|m| m.body.text.as_str()).collect(),
            queued_at: mails.iter().map(|m| db_instant(m.queued_at)).collect(),
        })
    }

    /// What `enqueue`'s one row says (`inserted`, `taken`) about a batch of
    /// `len` mails.
    ///
    /// # Errors
    /// [`StoreError::MailConflict`] naming the id already stored;
    /// [`StoreError::Backend`] when another number of mails was stored.
    pub fn answered(len: usize, inserted: i64, taken: Option<Uuid>) -> Result<(), StoreError> {
        if let Some(taken) = taken {
            return Err(mail_conflict(&taken));
        }
        if usize::try_from(inserted).ok() != Some(len) {
            return Err(StoreError::Backend(
                format!("enqueue stored {inserted} of {len} mails").into(),
            ));
        }
        Ok(())
    }
}

/// An attempt as `record` binds it: `$2` the new state, `$3` when it is
/// due again (a retry), `$5` the error, if any.
pub fn recorded(attempt: &Attempt) -> (&'static str, Option<DateTime<Utc>>, Option<&str>) {
    match attempt {
        Attempt::Sent => ("sent", None, None),
        Attempt::Retry { next, error } => ("queued", Some(db_instant(*next)), Some(error.as_str())),
        Attempt::GaveUp { error } => ("given_up", None, Some(error.as_str())),
    }
}
