//! The [`InvitationStore`](invitation_core::InvitationStore) operations on
//! PostgreSQL, written once on the session for [`PostgresStore`] and
//! [`PostgresTransactionStore`]: each one statement of
//! `invitation_postgres_sql::Statements`, as invitation-postgres sends
//! them, with the values bound through sqlx.

use chrono::{DateTime, Utc};
use invitation_core::{
    DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, ListQuery, RedeemOutcome,
    StoreError, StoredPage, UpdateOutcome, UserId, Version,
};
use invitation_postgres_sql::answers::{self, db_instant, version_param};
use invitation_postgres_sql::list::{plan, Param, Plan};
use sqlx::postgres::PgRow;
use sqlx::{query, Postgres};

use super::row::{id_at, invitation_at, version_at, JsonText};
use super::{PostgresStore, PostgresTransactionStore};
use crate::error::store_error;
use crate::rows::column;
use crate::target::Statement;

/// The PostgreSQL session: statements and where they run.
pub(crate) type Session<'a, 't> = crate::target::Session<'a, 't, Postgres>;

/// Binds a list parameter as its PostgreSQL type.
fn bind(statement: Statement<'_, Postgres>, param: Param) -> Statement<'_, Postgres> {
    match param {
        Param::Text(v) => statement.bind(v),
        Param::TextArray(v) => statement.bind(v),
        Param::Int4Array(v) => statement.bind(v),
        Param::Int8(v) => statement.bind(v),
        Param::Int8Array(v) => statement.bind(v),
        Param::Timestamptz(v) => statement.bind(v),
        Param::UuidArray(v) => statement.bind(v),
    }
}

impl Session<'_, '_> {
    pub(crate) async fn rows(
        &self,
        statement: Statement<'_, Postgres>,
    ) -> Result<Vec<PgRow>, StoreError> {
        self.target.fetch_all(statement).await.map_err(store_error)
    }

    pub(crate) async fn count(
        &self,
        statement: Statement<'_, Postgres>,
    ) -> Result<u64, StoreError> {
        self.target
            .execute(statement)
            .await
            .map(|done| done.rows_affected())
            .map_err(store_error)
    }

    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        // `ON CONFLICT (id) DO NOTHING`: a taken id writes no row and raises
        // no error, so it does not abort a host's transaction either.
        let inserted = self
            .count(
                query(&self.sql.insert)
                    .bind(invitation.id().as_uuid())
                    .bind(invitation.name().as_str())
                    .bind(invitation.expires())
                    .bind(JsonText(invitation.fixed_data().as_json()))
                    .bind(invitation.single_use())
                    .bind(invitation.flow().map(FlowId::as_uuid))
                    .bind(invitation.created_by().get())
                    .bind(version_param(invitation.version())),
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(*invitation.id()));
        }
        Ok(())
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let row = self
            .target
            .fetch_optional(query(&self.sql.get).bind(id.as_uuid()))
            .await
            .map_err(store_error)?;
        row.map(|row| invitation_at(&row, 0)).transpose()
    }

    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        // Every field, so that a new one fails to compile here.
        let InvitationPatch {
            name,
            expires,
            fixed_data,
            single_use,
            flow,
        } = patch;
        let expected = expected.map(version_param);
        let rows = self
            .rows(
                query(&self.sql.update)
                    .bind(id.as_uuid())
                    .bind(name.as_ref().map(|n| n.as_str()))
                    .bind(expires.is_some())
                    .bind(expires.flatten().map(db_instant))
                    .bind(fixed_data.as_ref().map(|d| JsonText(d.as_json())))
                    .bind(*single_use)
                    .bind(flow.is_some())
                    .bind(flow.flatten().map(|f| *f.as_uuid()))
                    .bind(expected),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(UpdateOutcome::NotFound);
        };
        let written: bool = column(row, 0, "written", None)?;
        let invitation = invitation_at(row, 1)?;
        Ok(answers::update(written, invitation, expected.is_some()))
    }

    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let expected = expected.map(version_param);
        let rows = self
            .rows(query(&self.sql.delete).bind(id.as_uuid()).bind(expected))
            .await?;
        let Some(row) = rows.first() else {
            return Ok(DeleteOutcome::NotFound);
        };
        let deleted: bool = column(row, 0, "deleted", None)?;
        let current = version_at(row, 1, Some(id.as_uuid()))?;
        Ok(answers::delete(deleted, current, expected.is_some()))
    }

    async fn list(&self, list_query: &ListQuery) -> Result<StoredPage, StoreError> {
        let statement = match plan(self.sql, list_query) {
            Plan::Query(statement) => statement,
            Plan::Empty => {
                return Ok(StoredPage {
                    total: 0,
                    items: Vec::new(),
                })
            }
        };
        // A filtered or searching list is sent unnamed (not prepared and
        // kept), so PostgreSQL plans it for the values at hand every time.
        let mut sql = query(&statement.sql).persistent(!statement.unnamed);
        for param in statement.params {
            sql = bind(sql, param);
        }
        let rows = self.rows(sql).await?;
        let mut total = 0;
        let mut items = Vec::with_capacity(rows.len());
        // Each row is dropped once read: a page of large invitations is not
        // held twice over (as rows and as invitations) until the end.
        for row in rows {
            let count: i64 = column(&row, 0, "total", None)?;
            total = u64::try_from(count).unwrap_or(0);
            if id_at(&row, 1)?.is_some() {
                items.push(invitation_at(&row, 1)?);
            }
        }
        Ok(StoredPage { total, items })
    }

    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        let now = db_instant(now);
        let rows = self
            .rows(
                query(&self.sql.redeem)
                    .bind(id.as_uuid())
                    .bind(flow.map(FlowId::as_uuid))
                    .bind(now),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(RedeemOutcome::NotFound);
        };
        let consumed: bool = column(row, 0, "consumed", None)?;
        let invitation = invitation_at(row, 1)?;
        Ok(answers::redeem(consumed, invitation, flow, now))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count(query(&self.sql.purge_expired).bind(db_instant(now)))
            .await
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        self.count(query(&self.sql.unbind_flow).bind(flow.as_uuid()))
            .await
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        self.count(query(&self.sql.delete_created_by).bind(user.get()))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.count(query(&self.sql.ping)).await.map(|_| ())
    }
}

invitation_core::forward_store!(PostgresStore => session);
invitation_core::forward_store!(PostgresTransactionStore<'_> => session);
