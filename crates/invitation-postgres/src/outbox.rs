//! The [`MailOutbox`] operations, written once in [`Session`] like the
//! invitations' (one statement each, see [`invitation_postgres_sql::Statements`]),
//! for [`PgStore`] and [`PgTransactionStore`].

use chrono::{DateTime, Utc};
use invitation_core::{read_claimed, Attempt, MailId, QueuedMail, StoreError};
use invitation_postgres_sql::answers::{db_instant, mail_conflict, recorded, EnqueueBatch};
use tokio_postgres::error::SqlState;

use crate::conn::{Call, Failure};
use crate::row::{column, mail_at};
use crate::store::{store_failure, Session};
use crate::{PgStore, PgTransactionStore};

impl Session<'_> {
    async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
        let Some(first) = mails.first() else {
            return Ok(());
        };
        let batch = EnqueueBatch::of(mails)?;
        let answer = self
            .executor
            .call(
                &self.sql.enqueue,
                &[
                    &batch.ids,
                    &batch.invitations,
                    &batch.to,
                    &batch.cc,
                    &batch.bcc,
                    &batch.subjects,
                    &batch.html,
                    &batch.text,
                    &batch.queued_at,
                ],
                Call::Query,
            )
            .await;
        let rows = match answer {
            Ok(answer) => answer.rows(),
            // A concurrent enqueue of one of these ids got there first; the
            // statement failed whole. Which id it was, the server says only
            // in text: name the batch's first mail.
            Err(Failure::Statement(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(mail_conflict(first.id.as_uuid()));
            }
            Err(failure) => return Err(store_failure(failure)),
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
                &self.sql.claim,
                &[
                    &db_instant(now),
                    &db_instant(lease_until),
                    &i64::from(limit),
                ],
            )
            .await?;
        let claimed = read_claimed(&rows, mail_at)?;
        Ok(claimed
            .give_up_unreadable(|row, gave_up| async move {
                let Ok(id) = column::<uuid::Uuid>(row, 0, "id", None) else {
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
        let now = db_instant(now);
        let (state, next, error) = recorded(attempt);
        // No row changed: an unknown id, or a mail already finished.
        self.execute(
            &self.sql.record,
            &[id.as_uuid(), &state, &next, &now, &error],
        )
        .await
        .map(|_| ())
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.execute(&self.sql.purge_finished, &[&db_instant(before)])
            .await
    }
}

invitation_core::forward_outbox!(PgStore => session);
invitation_core::forward_outbox!(PgTransactionStore<'_> => session);
