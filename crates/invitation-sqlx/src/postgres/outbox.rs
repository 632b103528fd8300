//! The [`MailOutbox`](invitation_core::MailOutbox) operations on
//! PostgreSQL, one statement each (`invitation_postgres_sql::Statements`),
//! for [`PostgresStore`] and [`PostgresTransactionStore`].

use chrono::{DateTime, Utc};
use invitation_core::{read_claimed, Attempt, MailId, QueuedMail, StoreError};
use invitation_postgres_sql::answers::{db_instant, mail_conflict, recorded, EnqueueBatch};
use sqlx::query;

use super::row::mail_at;
use super::store::Session;
use super::{PostgresStore, PostgresTransactionStore};
use crate::error::{is_unique_violation, store_error};
use crate::rows::column;

impl Session<'_, '_> {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        let Some(first) = mails.first() else {
            return Ok(());
        };
        let batch = EnqueueBatch::of(mails)?;
        let answer = self
            .target
            .fetch_all(
                query(&self.sql.enqueue)
                    .bind(batch.ids)
                    .bind(batch.invitations)
                    .bind(batch.to)
                    .bind(batch.cc)
                    .bind(batch.bcc)
                    .bind(batch.subjects)
                    .bind(batch.html)
                    .bind(batch.text)
                    .bind(batch.queued_at),
            )
            .await;
        let rows = match answer {
            Ok(rows) => rows,
            // A concurrent enqueue of one of these ids got there first; the
            // statement failed whole. Which id it was, the server says only
            // in text: name the batch's first mail.
            Err(e) if is_unique_violation(&e) => return Err(mail_conflict(first.id.as_uuid())),
            Err(e) => return Err(store_error(e)),
        };
        let Some(row) = rows.first() else {
            return Err(StoreError::Backend(
                "the enqueue statement answered no row".into(),
            ));
        };
        EnqueueBatch::answered(
            mails.len(),
            column(row, 0, "inserted", None)?,
            column(row, 1, "taken", None)?,
        )
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
        let claimed = read_claimed(&rows, mail_at)?;
        Ok(claimed
            .give_up_unreadable(|row, gave_up| async move {
                let Ok(id) = column::<_, uuid::Uuid>(row, 0, "id", None) else {
                    return Ok(());
                };
                self.record(&MailId::from_uuid(id), &gave_up, now).await
            })
            .await)
    }

    async fn record(
        &self,
        id: &MailId,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, next, error) = recorded(attempt);
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
