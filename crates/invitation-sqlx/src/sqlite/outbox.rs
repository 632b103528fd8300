//! The [`MailOutbox`] operations, written once on [`Session`] like the
//! invitations' (one statement each, see [`super::statements`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use invitation_core::{read_claimed, Attempt, MailId, QueuedMail, StoreError};
use serde_json::json;
use sqlx::query;

use super::row::{mail_at, uuid_text};
use super::{Session, SqliteStore, SqliteTransactionStore};
use crate::error::{backend, is_unique_violation, store_error};
use crate::rows::column;

/// The enqueue conflict on `id`.
fn conflict(id: &MailId) -> StoreError {
    StoreError::MailConflict(*id)
}

impl Session<'_, '_> {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        let Some(first) = mails.first() else {
            return Ok(());
        };
        let mut seen = HashSet::with_capacity(mails.len());
        for mail in mails {
            // Twice in the batch: the second is taken by the first.
            if !seen.insert(mail.id) {
                return Err(conflict(&mail.id));
            }
        }
        let batch: Vec<serde_json::Value> = mails
            .iter()
            .map(|m| {
                json!({
                    "id": uuid_text(m.id.as_uuid()),
                    "invitation": uuid_text(m.invitation.as_uuid()),
                    "to": m.to.as_str(),
                    "cc": m.cc.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                    "bcc": m.bcc.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                    "subject": m.subject,
                    "html": m.body.html,
                    "text": m.body.text,
                    "queued_at": m.queued_at.timestamp_micros(),
                })
            })
            .collect();
        let batch = serde_json::Value::Array(batch).to_string();
        match self
            .target
            .execute(query(&self.sql.enqueue).bind(batch))
            .await
        {
            Ok(done) if usize::try_from(done.rows_affected()).ok() == Some(mails.len()) => Ok(()),
            Ok(done) => Err(backend(format!(
                "enqueue stored {} of {} mails",
                done.rows_affected(),
                mails.len()
            ))),
            // An id already queued: the statement stored none of the batch.
            // Which id it was, SQLite says only in text: name the batch's
            // first mail.
            Err(e) if is_unique_violation(&e) => Err(conflict(&first.id)),
            Err(e) => Err(store_error(e)),
        }
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
            .target
            .fetch_all(
                query(&self.sql.claim)
                    .bind(now.timestamp_micros())
                    .bind(lease_until.timestamp_micros())
                    .bind(i64::from(limit)),
            )
            .await
            .map_err(store_error)?;
        let claimed = read_claimed(&rows, mail_at)?;
        let mut mails = claimed
            .give_up_unreadable(|row, gave_up| async move {
                // The id as stored, UUID or not.
                let Ok(id) = column::<_, String>(row, 0, "id", None) else {
                    return Ok(());
                };
                self.record_stored(&id, &gave_up, now).await
            })
            .await;
        mails.sort_by_key(|m| (m.queued_at, m.id));
        Ok(mails)
    }

    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_stored(&uuid_text(id.as_uuid()), attempt, now)
            .await
    }

    /// Records an attempt on the row whose id column holds `id`.
    async fn record_stored(
        &self,
        id: &str,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, next, error) = match attempt {
            Attempt::Sent => ("sent", None, None),
            Attempt::Retry { next, error } => {
                ("queued", Some(next.timestamp_micros()), Some(error))
            }
            Attempt::GaveUp { error } => ("given_up", None, Some(error)),
        };
        // No row changed: an unknown id, or a mail already finished.
        self.count(
            query(&self.sql.record)
                .bind(id)
                .bind(state)
                .bind(next)
                .bind(now.timestamp_micros())
                .bind(error.map(String::as_str)),
        )
        .await
        .map(|_| ())
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count(query(&self.sql.purge_finished).bind(before.timestamp_micros()))
            .await
    }
}

invitation_core::forward_outbox!(SqliteStore => session);
invitation_core::forward_outbox!(SqliteTransactionStore<'_> => session);
