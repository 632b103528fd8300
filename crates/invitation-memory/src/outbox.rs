//! [`MailOutbox`] for [`MemoryStore`]: the queued mails in one map behind
//! one lock, beside the invitations.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invitation_core::{Attempt, MailId, MailOutbox, QueuedMail, StoreError};

use crate::MemoryStore;

/// One mail and its delivery state.
#[derive(Clone)]
struct Queued {
    /// As queued, with `attempts` kept current.
    mail: QueuedMail,
    /// Due at or after this (the queue time, then each retry's `next`).
    next_attempt: DateTime<Utc>,
    /// Leased to a claim until this.
    lease_until: Option<DateTime<Utc>>,
    /// When it was sent or given up; `None` while it is still due.
    finished: Option<DateTime<Utc>>,
}

impl Queued {
    fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.finished.is_none()
            && self.next_attempt <= now
            && self.lease_until.is_none_or(|until| until <= now)
    }
}

/// The outbox of a [`MemoryStore`].
#[derive(Default)]
pub(crate) struct Mails {
    mails: HashMap<MailId, Queued>,
}

impl fmt::Debug for Mails {
    // Counts only: the mails carry addresses and invitation links.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let finished = self.mails.values().filter(|q| q.finished.is_some()).count();
        f.debug_struct("Mails")
            .field("unfinished", &(self.mails.len() - finished))
            .field("finished", &finished)
            .finish()
    }
}

/// The enqueue conflict on `id`.
fn conflict(id: &MailId) -> StoreError {
    StoreError::MailConflict(*id)
}

impl MemoryStore {
    // As for the rows: every change is made whole under the lock, so a
    // poisoned lock still guards a consistent outbox.
    fn mails(&self) -> MutexGuard<'_, Mails> {
        self.mails.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Each operation runs under the outbox's one lock, so a claim leases its
/// mails before any other claim looks.
#[async_trait]
impl MailOutbox for MemoryStore {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        let mut outbox = self.mails();
        let mut batch = HashSet::with_capacity(mails.len());
        for mail in mails {
            // Taken already, or twice in the batch: store none.
            if outbox.mails.contains_key(&mail.id) || !batch.insert(mail.id) {
                return Err(conflict(&mail.id));
            }
        }
        for mail in mails {
            if let Entry::Vacant(slot) = outbox.mails.entry(mail.id) {
                slot.insert(Queued {
                    mail: QueuedMail {
                        attempts: 0,
                        ..mail.clone()
                    },
                    next_attempt: mail.queued_at,
                    lease_until: None,
                    finished: None,
                });
            }
        }
        Ok(())
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut outbox = self.mails();
        let mut due: Vec<&mut Queued> = outbox
            .mails
            .values_mut()
            .filter(|q| q.is_due(now))
            .collect();
        due.sort_unstable_by_key(|q| (q.mail.queued_at, q.mail.id));
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due
            .into_iter()
            .map(|q| {
                q.lease_until = Some(lease_until);
                q.mail.clone()
            })
            .collect())
    }

    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut outbox = self.mails();
        // Unknown, or finished already (a late record from a claim whose
        // lease ran out): nothing to change.
        let Some(queued) = outbox.mails.get_mut(id).filter(|q| q.finished.is_none()) else {
            return Ok(());
        };
        queued.mail.attempts = queued.mail.attempts.saturating_add(1);
        queued.lease_until = None;
        // The error texts are not kept: nothing reads them back.
        match attempt {
            Attempt::Sent | Attempt::GaveUp { .. } => queued.finished = Some(now),
            Attempt::Retry { next, .. } => queued.next_attempt = *next,
        }
        Ok(())
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut outbox = self.mails();
        let count = outbox.mails.len();
        outbox
            .mails
            .retain(|_, q| q.finished.is_none_or(|at| at >= before));
        Ok((count - outbox.mails.len()) as u64)
    }
}
