//! The store's operations, written once in [`Session`]: one statement per
//! operation, run through `conn` on a pooled connection ([`PgStore`]) or in
//! the host's transaction ([`PgTransactionStore`]). Both implement
//! [`InvitationStore`] by handing each call to their session.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use invitation_core::{
    DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, ListQuery, RedeemOutcome,
    StoreError, StoredPage, UpdateOutcome, UserId, Version,
};
use invitation_postgres_sql::answers::{self, db_instant, version_param};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::conn::{Answer, Call, Executor, Failure};
use crate::error::{pool_error, store_error};
use crate::list::{plan, Plan};
use crate::row::{column, id_at, invitation_at, version_at};
use crate::{PgStore, PgTransactionStore};
use invitation_postgres_sql::Statements;

/// A store's statements and where they run.
pub(crate) struct Session<'a> {
    pub(crate) sql: &'a Statements,
    pub(crate) executor: Executor<'a>,
}

impl Session<'_> {
    pub(crate) async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.executor
            .call(sql, params, Call::Query)
            .await
            .map(Answer::rows)
            .map_err(store_failure)
    }

    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.executor
            .call(sql, params, Call::Execute)
            .await
            .map(Answer::count)
            .map_err(store_failure)
    }
}

pub(crate) fn store_failure(failure: Failure) -> StoreError {
    match failure {
        Failure::Pool(e) => pool_error(e),
        Failure::Statement(e) => store_error(e),
    }
}

/// An invitation's column values, in the order of
/// [`invitation_postgres_sql::COLUMNS`] (and of the insert parameters).
struct Columns<'a> {
    id: &'a Uuid,
    name: &'a str,
    expires: Option<DateTime<Utc>>,
    fixed_data: JsonText<'a>,
    single_use: bool,
    flow: Option<&'a Uuid>,
    created_by: i64,
    version: i64,
}

impl<'a> Columns<'a> {
    fn of(invitation: &'a Invitation) -> Self {
        Self {
            id: invitation.id().as_uuid(),
            name: invitation.name().as_str(),
            expires: invitation.expires(),
            fixed_data: JsonText(invitation.fixed_data().as_json()),
            single_use: invitation.single_use(),
            flow: invitation.flow().map(FlowId::as_uuid),
            created_by: invitation.created_by().get(),
            version: version_param(invitation.version()),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            self.id,
            &self.name,
            &self.expires,
            &self.fixed_data,
            &self.single_use,
            &self.flow,
            &self.created_by,
            &self.version,
        ]
    }
}

/// A `json`/`jsonb` parameter from JSON text that is already valid (a
/// [`FixedData`](invitation_core::FixedData)'s compact text), sent as it is: `Json<T>` would serialise
/// it again.
#[derive(Debug)]
struct JsonText<'a>(&'a str);

impl ToSql for JsonText<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // `jsonb`'s binary form is a version byte (1) before the text.
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// The operations of [`InvitationStore`], each one statement (see the
/// trait for what they promise).
impl Session<'_> {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        // `ON CONFLICT (id) DO NOTHING`: a taken id writes no row and raises
        // no error, so it does not abort a host's transaction either.
        let inserted = self
            .execute(&self.sql.insert, &Columns::of(invitation).params())
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(*invitation.id()));
        }
        Ok(())
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let rows = self.rows(&self.sql.get, &[id.as_uuid()]).await?;
        rows.first().map(|row| invitation_at(row, 0)).transpose()
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
        let name = name.as_ref().map(|n| n.as_str());
        let expires_given = expires.is_some();
        let expires = expires.flatten().map(db_instant);
        let fixed_data = fixed_data.as_ref().map(|d| JsonText(d.as_json()));
        let flow_given = flow.is_some();
        let flow = flow.flatten().map(|f| *f.as_uuid());
        let expected = expected.map(version_param);
        let rows = self
            .rows(
                &self.sql.update,
                &[
                    id.as_uuid(),
                    &name,
                    &expires_given,
                    &expires,
                    &fixed_data,
                    single_use,
                    &flow_given,
                    &flow,
                    &expected,
                ],
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
            .rows(&self.sql.delete, &[id.as_uuid(), &expected])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(DeleteOutcome::NotFound);
        };
        let deleted: bool = column(row, 0, "deleted", None)?;
        let current = version_at(row, 1, Some(id.as_uuid()))?;
        Ok(answers::delete(deleted, current, expected.is_some()))
    }

    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        let statement = match plan(self.sql, query) {
            Plan::Query(statement) => statement,
            Plan::Empty => {
                return Ok(StoredPage {
                    total: 0,
                    items: Vec::new(),
                })
            }
        };
        let call = match &statement.types {
            Some(types) => Call::Unnamed(types),
            None => Call::Query,
        };
        let rows = self
            .executor
            .call(&statement.sql, &statement.params(), call)
            .await
            .map(Answer::rows)
            .map_err(store_failure)?;
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
                &self.sql.redeem,
                &[id.as_uuid(), &flow.map(FlowId::as_uuid), &now],
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
        self.execute(&self.sql.purge_expired, &[&db_instant(now)])
            .await
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        self.execute(&self.sql.unbind_flow, &[flow.as_uuid()]).await
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        self.execute(&self.sql.delete_created_by, &[&user.get()])
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.execute(&self.sql.ping, &[]).await.map(|_| ())
    }
}

invitation_core::forward_store!(PgStore => session);
invitation_core::forward_store!(PgTransactionStore<'_> => session);
