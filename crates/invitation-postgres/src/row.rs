//! Rows back into invitations, checking the domain's rules again: a row
//! written by hand that breaks them is [`StoreError::Corrupt`], never a panic.

use chrono::{DateTime, Utc};
use invitation_core::{
    FixedData, FlowId, Invitation, InvitationId, InvitationName, InvitationParts, StoreError,
    UserId, Version,
};
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;
use uuid::Uuid;

fn corrupt(id: Option<&Uuid>, what: impl std::fmt::Display) -> StoreError {
    let reason = match id {
        Some(id) => format!("invitation {id}: {what}"),
        None => what.to_string(),
    };
    StoreError::Corrupt { reason }
}

fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    name: &str,
    id: Option<&Uuid>,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| corrupt(id, format_args!("column {name} cannot be read: {e}")))
}

/// A stored version: a positive `bigint`.
pub(crate) fn version_at(
    row: &Row,
    index: usize,
    id: Option<&Uuid>,
) -> Result<Version, StoreError> {
    let stored: i64 = column(row, index, "version", id)?;
    u64::try_from(stored)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| corrupt(id, format_args!("version {stored} is not positive")))
}

/// The version a statement compares with: one no row can hold when it is
/// past `bigint` (so it never matches).
pub(crate) fn version_param(version: Version) -> i64 {
    i64::try_from(version.get()).unwrap_or(-1)
}

/// The id at `first` (the first of the columns of
/// [`crate::schema::COLUMNS`]), or
/// `None` when it is NULL (the empty side of an outer join).
pub(crate) fn id_at(row: &Row, first: usize) -> Result<Option<Uuid>, StoreError> {
    column(row, first, "id", None)
}

/// The invitation in the columns of [`crate::schema::COLUMNS`]
/// starting at `first`.
pub(crate) fn invitation_at(row: &Row, first: usize) -> Result<Invitation, StoreError> {
    let id: Uuid = column(row, first, "id", None)?;
    let at = Some(&id);
    let raw_name: String = column(row, first + 1, "name", at)?;
    let name = match InvitationName::parse(&raw_name) {
        // A stored name is already trimmed; one that only parses after
        // trimming was not written by the library.
        Ok(name) if name.as_str() == raw_name => name,
        _ => {
            return Err(corrupt(
                at,
                format_args!("name {raw_name:?} breaks the name rules"),
            ))
        }
    };
    let expires: Option<DateTime<Utc>> = column(row, first + 2, "expires", at)?;
    let fixed_data: serde_json::Value = column(row, first + 3, "fixed_data", at)?;
    let fixed_data = FixedData::try_from(fixed_data)
        .map_err(|_| corrupt(at, "fixed_data is not a JSON object"))?;
    let single_use: bool = column(row, first + 4, "single_use", at)?;
    let flow: Option<Uuid> = column(row, first + 5, "flow", at)?;
    let created_by: i64 = column(row, first + 6, "created_by", at)?;
    let version = version_at(row, first + 7, at)?;
    Ok(Invitation::from_parts(InvitationParts {
        id: InvitationId::from_uuid(id),
        name,
        expires,
        fixed_data,
        single_use,
        flow: flow.map(FlowId::from_uuid),
        created_by: UserId::new(created_by),
        version,
    }))
}
