//! [`InvitationStore`] for [`PgStore`]: one statement per operation, run
//! through `conn` (cancelled when the caller goes away, retried on the
//! transient errors it names).

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use invitation_core::time::truncate_to_micros;
use invitation_core::{
    FlowId, Invitation, InvitationId, InvitationStore, ListQuery, RedeemOutcome, StoreError,
    StoredPage, UserId,
};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::conn::{Answer, Call, Failure};
use crate::error::{insert_error, pool_error, store_error};
use crate::list::{plan, Plan};
use crate::row::{id_at, invitation_at};
use crate::PgStore;

impl PgStore {
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.call(sql, params, Call::Query)
            .await
            .map(Answer::rows)
            .map_err(store_failure)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.call(sql, params, Call::Execute)
            .await
            .map(Answer::count)
            .map_err(store_failure)
    }
}

fn store_failure(failure: Failure) -> StoreError {
    match failure {
        Failure::Pool(e) => pool_error(e),
        Failure::Statement(e) => store_error(e),
    }
}

/// An invitation's column values, in the order of
/// [`crate::schema::COLUMNS`] (and of the insert and replace parameters).
struct Columns<'a> {
    id: &'a Uuid,
    name: &'a str,
    expires: Option<DateTime<Utc>>,
    fixed_data: JsonText<'a>,
    single_use: bool,
    flow: Option<&'a Uuid>,
    created_by: i64,
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
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            self.id,
            &self.name,
            &self.expires,
            &self.fixed_data,
            &self.single_use,
            &self.flow,
            &self.created_by,
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

/// The instant as the database compares it: whole microseconds, rounded
/// down (the driver would round instants before 2000 towards 2000, i.e. up).
/// Stored expiries are whole microseconds, so `expires <= now` is unchanged.
fn db_instant(now: DateTime<Utc>) -> DateTime<Utc> {
    truncate_to_micros(now)
}

#[async_trait]
impl InvitationStore for PgStore {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.call(
            &self.sql.insert,
            &Columns::of(invitation).params(),
            Call::Execute,
        )
        .await
        .map_err(|failure| match failure {
            Failure::Statement(e) => insert_error(e, *invitation.id()),
            other => store_failure(other),
        })?;
        Ok(())
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let rows = self.rows(&self.sql.get, &[id.as_uuid()]).await?;
        rows.first().map(|row| invitation_at(row, 0)).transpose()
    }

    async fn replace(&self, invitation: &Invitation) -> Result<bool, StoreError> {
        let changed = self
            .execute(&self.sql.replace, &Columns::of(invitation).params())
            .await?;
        Ok(changed > 0)
    }

    async fn delete(&self, id: &InvitationId) -> Result<bool, StoreError> {
        let deleted = self.execute(&self.sql.delete, &[id.as_uuid()]).await?;
        Ok(deleted > 0)
    }

    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        let statement = match plan(&self.sql, query) {
            Ok(Plan::Query(statement)) => statement,
            Ok(Plan::Empty) => {
                return Ok(StoredPage {
                    total: 0,
                    items: Vec::new(),
                })
            }
            Err(unsupported) => return Err(StoreError::Backend(Box::new(unsupported))),
        };
        let call = match &statement.types {
            Some(types) => Call::Unnamed(types),
            None => Call::Query,
        };
        let rows = self
            .call(&statement.sql, &statement.params(), call)
            .await
            .map(Answer::rows)
            .map_err(store_failure)?;
        let mut total = 0;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let count: i64 = row.try_get(0).map_err(|e| StoreError::Corrupt {
                reason: format!("list total cannot be read: {e}"),
            })?;
            total = u64::try_from(count).unwrap_or(0);
            if id_at(row, 1)?.is_some() {
                items.push(invitation_at(row, 1)?);
            }
        }
        Ok(StoredPage { total, items })
    }

    async fn redeem(
        &self,
        id: &InvitationId,
        flow: &FlowId,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        let now = db_instant(now);
        let rows = self
            .rows(&self.sql.redeem, &[id.as_uuid(), flow.as_uuid(), &now])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(RedeemOutcome::NotFound);
        };
        let consumed: bool = row.try_get(0).map_err(|e| StoreError::Corrupt {
            reason: format!("redeem result cannot be read: {e}"),
        })?;
        let invitation = invitation_at(row, 1)?;
        if consumed {
            return Ok(RedeemOutcome::Redeemed(invitation));
        }
        // Not consumed: the row as it was when the statement began.
        Ok(if invitation.is_expired_at(now) {
            RedeemOutcome::Expired
        } else if invitation.flow().is_some_and(|bound| bound != flow) {
            RedeemOutcome::WrongFlow
        } else if invitation.single_use() {
            // Valid and single-use, yet not deleted by us: a concurrent
            // redemption consumed it first.
            RedeemOutcome::NotFound
        } else {
            RedeemOutcome::Redeemed(invitation)
        })
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
