//! The [`MailOutbox`](invitation_core::MailOutbox) operations on
//! PostgreSQL, one statement each (`invitation_postgres_sql::Statements`),
//! for [`PostgresStore`] and [`PostgresTransactionStore`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use invitation_core::{Attempt, EmailAddress, InvitationId, MailId, QueuedMail, StoreError};
use sqlx::query;
use uuid::Uuid;

use super::row::mail_at;
use super::store::{db_instant, Session};
use super::{PostgresStore, PostgresTransactionStore};
use crate::error::{is_unique_violation, store_error};
use crate::rows::column;

/// A mail id in the id slot of [`StoreError::Conflict`].
fn conflict(id: &Uuid) -> StoreError {
    StoreError::Conflict(InvitationId::from_uuid(*id))
}

/// A mail's cc or bcc as the JSON array of address texts the enqueue
/// statement takes.
fn json_addresses(addresses: &[EmailAddress]) -> Result<String, StoreError> {
    let texts: Vec<&str> = addresses.iter().map(EmailAddress::as_str).collect();
    serde_json::to_string(&texts).map_err(|e| StoreError::Backend(Box::new(e)))
}

impl Session<'_, '_> {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        let Some(first) = mails.first() else {
            return Ok(());
        };
        let mut ids = Vec::with_capacity(mails.len());
        let mut seen = HashSet::with_capacity(mails.len());
        for mail in mails {
            let id = *mail.id.as_uuid();
            // Twice in the batch: the second is taken by the first.
            if !seen.insert(id) {
                return Err(conflict(&id));
            }
            ids.push(id);
        }
        let invitations: Vec<Uuid> = mails.iter().map(|m| *m.invitation.as_uuid()).collect();
        let to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
        let cc = mails
            .iter()
            .map(|m| json_addresses(&m.cc))
            .collect::<Result<Vec<_>, _>>()?;
        let bcc = mails
            .iter()
            .map(|m| json_addresses(&m.bcc))
            .collect::<Result<Vec<_>, _>>()?;
        let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
        let html: Vec<&str> = mails.iter().map(|m| m.body.html.as_str()).collect();
        let text: Vec<&str> = mails.iter().map(|m| m.body.text.as_str()).collect();
        let queued_at: Vec<DateTime<Utc>> = mails.iter().map(|m| db_instant(m.queued_at)).collect();
        let answer = self
            .target
            .fetch_all(
                query(&self.sql.enqueue)
                    .bind(ids)
                    .bind(invitations)
                    .bind(to)
                    .bind(cc)
                    .bind(bcc)
                    .bind(subjects)
                    .bind(html)
                    .bind(text)
                    .bind(queued_at),
            )
            .await;
        let rows = match answer {
            Ok(rows) => rows,
            // A concurrent enqueue of one of these ids got there first; the
            // statement failed whole. Which id it was, the server says only
            // in text: name the batch's first mail.
            Err(e) if is_unique_violation(&e) => return Err(conflict(first.id.as_uuid())),
            Err(e) => return Err(store_error(e)),
        };
        let Some(row) = rows.first() else {
            return Err(StoreError::Backend(
                "the enqueue statement answered no row".into(),
            ));
        };
        let taken: Option<Uuid> = column(row, 1, "taken", None)?;
        if let Some(taken) = taken {
            return Err(conflict(&taken));
        }
        let inserted: i64 = column(row, 0, "inserted", None)?;
        if usize::try_from(inserted).ok() != Some(mails.len()) {
            return Err(StoreError::Backend(
                format!("enqueue stored {inserted} of {} mails", mails.len()).into(),
            ));
        }
        Ok(())
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .rows(
                query(&self.sql.claim)
                    .bind(db_instant(now))
                    .bind(db_instant(lease_until))
                    .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(mail_at).collect()
    }

    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, next, error) = match attempt {
            Attempt::Sent => ("sent", None, None),
            Attempt::Retry { next, error } => {
                ("queued", Some(db_instant(*next)), Some(error.as_str()))
            }
            Attempt::GaveUp { error } => ("given_up", None, Some(error.as_str())),
        };
        // No row changed: an unknown id, or a mail already finished.
        self.count(
            query(&self.sql.record)
                .bind(id.as_uuid())
                .bind(state)
                .bind(next)
                .bind(db_instant(now))
                .bind(error),
        )
        .await
        .map(|_| ())
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count(query(&self.sql.purge_finished).bind(db_instant(before)))
            .await
    }
}

invitation_core::forward_outbox!(PostgresStore => session);
invitation_core::forward_outbox!(PostgresTransactionStore<'_> => session);
