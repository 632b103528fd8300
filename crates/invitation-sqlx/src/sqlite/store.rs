//! The [`InvitationStore`] operations, written once on [`Session`], each
//! one statement, except where a write that did not apply reads the row to
//! say why, and redemption, which reads the row and consumes a single-use
//! one with one `DELETE … RETURNING`.

use chrono::{DateTime, Utc};
use invitation_core::{
    DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, ListQuery, RedeemOutcome,
    StoreError, StoredPage, UpdateOutcome, UserId, Version,
};
use sqlx::query;
use sqlx::sqlite::SqliteRow;

use super::deadline::fetch_list;
use super::list::{params, statement};
use super::row::{column, id_at, invitation_at, uuid_text};
use super::{Session, SqliteStore, SqliteTransactionStore};
use crate::error::{backend, store_error};

/// How often a conditional write or a redemption tries again when the row
/// changed between its write and its read of why the write did not apply
/// (each time, another writer made progress).
const RACES: usize = 16;

/// A version as the statements compare it: one no row can hold when it is
/// past SQLite's integers (so it never matches).
fn version_param(version: Version) -> i64 {
    i64::try_from(version.get()).unwrap_or(-1)
}

/// The stored version in `row`'s first column.
fn version_of(row: &SqliteRow, id: &InvitationId) -> Result<Version, StoreError> {
    let stored: i64 = column(row, 0, "version", Some(id.as_uuid()))?;
    u64::try_from(stored)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| {
            StoreError::corrupt(
                Some(*id),
                format!("invitation {id}: version {stored} is not positive"),
                None,
            )
        })
}

impl Session<'_, '_> {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let done = self
            .target
            .execute(
                query(&self.sql.insert)
                    .bind(uuid_text(invitation.id().as_uuid()))
                    .bind(invitation.name().as_str())
                    .bind(invitation.expires().map(|e| e.timestamp_micros()))
                    .bind(invitation.fixed_data().as_json())
                    .bind(invitation.single_use())
                    .bind(invitation.flow().map(|f| uuid_text(f.as_uuid())))
                    .bind(invitation.created_by().get())
                    .bind(version_param(invitation.version())),
            )
            .await
            .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(*invitation.id()));
        }
        Ok(())
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let row = self
            .target
            .fetch_optional(query(&self.sql.get).bind(uuid_text(id.as_uuid())))
            .await
            .map_err(store_error)?;
        row.map(|row| invitation_at(&row, 0)).transpose()
    }

    /// The stored version of `id`, if there is a row.
    async fn stored_version(&self, id: &InvitationId) -> Result<Option<Version>, StoreError> {
        let row = self
            .target
            .fetch_optional(query(&self.sql.version).bind(uuid_text(id.as_uuid())))
            .await
            .map_err(store_error)?;
        row.map(|row| version_of(&row, id)).transpose()
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
        for _ in 0..RACES {
            let written = self
                .target
                .fetch_optional(
                    query(&self.sql.update)
                        .bind(uuid_text(id.as_uuid()))
                        .bind(name.as_ref().map(|n| n.as_str()))
                        .bind(expires.is_some())
                        .bind(expires.flatten().map(|e| e.timestamp_micros()))
                        .bind(fixed_data.as_ref().map(|d| d.as_json()))
                        .bind(*single_use)
                        .bind(flow.is_some())
                        .bind(flow.flatten().map(|f| uuid_text(f.as_uuid())))
                        .bind(expected.map(version_param)),
                )
                .await
                .map_err(store_error)?;
            if let Some(row) = written {
                return invitation_at(&row, 0).map(UpdateOutcome::Updated);
            }
            match (self.stored_version(id).await?, expected) {
                (None, _) => return Ok(UpdateOutcome::NotFound),
                // Written by another call between the two statements.
                (Some(current), Some(expected)) if current != expected => {
                    return Ok(UpdateOutcome::VersionMismatch { current })
                }
                // The row came or moved to the expected version meanwhile:
                // try the write again.
                (Some(_), _) => continue,
            }
        }
        Err(backend(format!(
            "update of {id}: the row kept changing under {RACES} tries"
        )))
    }

    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        for _ in 0..RACES {
            let deleted = self
                .target
                .fetch_optional(
                    query(&self.sql.delete)
                        .bind(uuid_text(id.as_uuid()))
                        .bind(expected.map(version_param)),
                )
                .await
                .map_err(store_error)?;
            if deleted.is_some() {
                return Ok(DeleteOutcome::Deleted);
            }
            match (self.stored_version(id).await?, expected) {
                (None, _) => return Ok(DeleteOutcome::NotFound),
                (Some(current), Some(expected)) if current != expected => {
                    return Ok(DeleteOutcome::VersionMismatch { current })
                }
                (Some(_), _) => continue,
            }
        }
        Err(backend(format!(
            "delete of {id}: the row kept changing under {RACES} tries"
        )))
    }

    async fn list(&self, query_: &ListQuery) -> Result<StoredPage, StoreError> {
        let Some(p) = params(query_) else {
            return Ok(StoredPage {
                total: 0,
                items: Vec::new(),
            });
        };
        let sql = statement(
            &self.sql.table,
            &self.sql.counts,
            query_,
            p.slots.len(),
            p.rest.is_some(),
        );
        let rows = fetch_list(&self.target, self.sql.list_timeout, sql, p).await?;
        let Some(first) = rows.first() else {
            return Err(backend("the list statement answered no row"));
        };
        let total: i64 = column(first, 0, "total", None)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            if id_at(row, 1)?.is_some() {
                items.push(invitation_at(row, 1)?);
            }
        }
        Ok(StoredPage {
            total: u64::try_from(total).unwrap_or(0),
            items,
        })
    }

    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        // Stored expiries are whole microseconds: `expires <= now` holds
        // exactly when it holds for `now` rounded down to one.
        let now_micros = now.timestamp_micros();
        for _ in 0..RACES {
            // The row as it is now (one read, no write lock) says whether
            // it is gone, expired, for another flow, or multi-use (then
            // redeemed by this read).
            let Some(invitation) = self.get(id).await? else {
                return Ok(RedeemOutcome::NotFound);
            };
            if invitation.is_expired_at(now) {
                return Ok(RedeemOutcome::Expired);
            }
            if !invitation.redeemable_in(flow) {
                return Ok(RedeemOutcome::WrongFlow);
            }
            if !invitation.single_use() {
                return Ok(RedeemOutcome::Redeemed(invitation));
            }
            // Single-use and valid: deleted and returned by one statement
            // that checks it all again, so of any number of concurrent
            // callers one gets it. The others find it changed or gone and
            // read again.
            let consumed = self
                .target
                .fetch_optional(
                    query(&self.sql.consume)
                        .bind(uuid_text(id.as_uuid()))
                        .bind(now_micros)
                        .bind(flow.map(|f| uuid_text(f.as_uuid()))),
                )
                .await
                .map_err(store_error)?;
            if let Some(row) = consumed {
                return invitation_at(&row, 0).map(RedeemOutcome::Redeemed);
            }
        }
        Err(backend(format!(
            "redemption of {id}: the row kept changing under {RACES} tries"
        )))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count(query(&self.sql.purge_expired).bind(now.timestamp_micros()))
            .await
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        self.count(query(&self.sql.unbind_flow).bind(uuid_text(flow.as_uuid())))
            .await
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        self.count(query(&self.sql.delete_created_by).bind(user.get()))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.target
            .fetch_optional(query(&self.sql.ping))
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// Runs a write and answers how many rows it changed.
    pub(crate) async fn count(&self, statement: super::Query<'_>) -> Result<u64, StoreError> {
        self.target
            .execute(statement)
            .await
            .map(|done| done.rows_affected())
            .map_err(store_error)
    }
}

invitation_core::forward_store!(SqliteStore => session);
invitation_core::forward_store!(SqliteTransactionStore<'_> => session);
