//! Rows back into invitations, checking the domain's rules again
//! ([`Invitation::from_stored`]): a row written by hand that breaks them is
//! [`StoreError::Corrupt`], never a panic.

use chrono::{DateTime, Utc};
use invitation_core::{
    Invitation, InvitationId, QueuedMail, StoreError, StoredInvitation, StoredMail, Version,
};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

fn corrupt(
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
pub(crate) fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    name: &str,
    id: Option<&Uuid>,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| {
        let what = format!("column {name} cannot be read: {e}");
        corrupt(id, what, Some(Box::new(e)))
    })
}

/// A `json`/`jsonb` column's text as the server sent it, without parsing
/// it into a `serde_json::Value` first.
struct JsonText<'a>(&'a str);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = if *ty == Type::JSONB {
            // `jsonb`'s binary form is a version byte (1) before the text.
            match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            raw
        };
        Ok(Self(std::str::from_utf8(text)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
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
        .ok_or_else(|| corrupt(id, format_args!("version {stored} is not positive"), None))
}

/// The id at `first` (the first of the columns of
/// [`invitation_postgres_sql::COLUMNS`]), or `None` when it is NULL (the empty side
/// of an outer join).
pub(crate) fn id_at(row: &Row, first: usize) -> Result<Option<Uuid>, StoreError> {
    column(row, first, "id", None)
}

/// The invitation in the columns of [`invitation_postgres_sql::COLUMNS`] starting at
/// `first`.
pub(crate) fn invitation_at(row: &Row, first: usize) -> Result<Invitation, StoreError> {
    let id: Uuid = column(row, first, "id", None)?;
    let at = Some(&id);
    let name: &str = column(row, first + 1, "name", at)?;
    let expires: Option<DateTime<Utc>> = column(row, first + 2, "expires", at)?;
    let JsonText(fixed_data) = column(row, first + 3, "fixed_data", at)?;
    let stored = StoredInvitation {
        id,
        name,
        expires,
        fixed_data,
        single_use: column(row, first + 4, "single_use", at)?,
        flow: column(row, first + 5, "flow", at)?,
        created_by: column(row, first + 6, "created_by", at)?,
        version: column(row, first + 7, "version", at)?,
    };
    Invitation::from_stored(stored).map_err(|e| corrupt(at, &e, Some(Box::new(e.clone()))))
}

/// The mail in the columns of [`invitation_postgres_sql::MAIL_COLUMNS`],
/// checked by [`QueuedMail::from_stored`]. A column that cannot be read is
/// [`StoreError::Corrupt`] naming the mail (its `id` is `None`: the field
/// names invitations).
pub(crate) fn mail_at(row: &Row) -> Result<QueuedMail, StoreError> {
    let id: Uuid = column(row, 0, "id", None)?;
    let read = |e: StoreError| match e {
        StoreError::Corrupt { reason, source, .. } => {
            StoreError::corrupt(None, format!("outbox mail {id}: {reason}"), source)
        }
        other => other,
    };
    let attempts: i32 = column(row, 9, "attempts", None).map_err(read)?;
    QueuedMail::from_stored(StoredMail {
        id,
        invitation: column(row, 1, "invitation", None).map_err(read)?,
        to: column(row, 2, "to_address", None).map_err(read)?,
        cc: column(row, 3, "cc", None).map_err(read)?,
        bcc: column(row, 4, "bcc", None).map_err(read)?,
        subject: column(row, 5, "subject", None).map_err(read)?,
        html: column(row, 6, "html", None).map_err(read)?,
        text: column(row, 7, "plain_text", None).map_err(read)?,
        queued_at: column(row, 8, "queued_at", None).map_err(read)?,
        attempts: i64::from(attempts),
    })
}
