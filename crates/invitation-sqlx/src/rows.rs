//! Reading columns for every backend: a value that cannot be read is
//! [`StoreError::Corrupt`] naming the column (and the invitation, when its
//! id is known), never a panic.

use invitation_core::{InvitationId, StoreError};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

/// A corrupt-row error about the invitation `id` (when known).
pub(crate) fn corrupt(
    id: Option<&Uuid>,
    what: impl std::fmt::Display,
    source: Option<invitation_core::BoxError>,
) -> StoreError {
    let reason = match id {
        Some(id) => format!("invitation {id}: {what}"),
        None => what.to_string(),
    };
    StoreError::corrupt(id.copied().map(InvitationId::from_uuid), reason, source)
}

/// Column `index` of `row`, named `name` in the error when it cannot be
/// read (of the row of `id`, when known).
pub(crate) fn column<'r, R, T>(
    row: &'r R,
    index: usize,
    name: &str,
    id: Option<&Uuid>,
) -> Result<T, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(index).map_err(|e| {
        let what = format!("column {name} cannot be read: {e}");
        corrupt(id, what, Some(Box::new(e)))
    })
}

/// A column error of an outbox row, renamed after the mail `id` (a
/// corrupt-row error names invitations otherwise).
pub(crate) fn mail_corrupt(id: &Uuid, error: StoreError) -> StoreError {
    match error {
        StoreError::Corrupt { reason, source, .. } => {
            StoreError::corrupt(None, format!("outbox mail {id}: {reason}"), source)
        }
        other => other,
    }
}
