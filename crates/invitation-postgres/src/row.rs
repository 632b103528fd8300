//! Rows back into invitations, checking the domain's rules again
//! ([`Invitation::from_stored`]): a row written by hand that breaks them is
//! [`StoreError::Corrupt`], never a panic.

use chrono::{DateTime, Utc};
use invitation_core::{
    EmailAddress, Invitation, InvitationId, MailId, QueuedMail, RenderedMail, StoreError,
    StoredInvitation, Version,
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

/// The version a statement compares with: one no row can hold when it is
/// past `bigint` (so it never matches).
pub(crate) fn version_param(version: Version) -> i64 {
    i64::try_from(version.get()).unwrap_or(-1)
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

/// The mail in the columns of [`invitation_postgres_sql::MAIL_COLUMNS`]. A column
/// that cannot be read, an address that is not one, or a negative attempt
/// count is [`StoreError::Corrupt`] naming the mail (its `id` is `None`:
/// the field names invitations), without the address text.
pub(crate) fn mail_at(row: &Row) -> Result<QueuedMail, StoreError> {
    let id: Uuid = column(row, 0, "id", None)?;
    let bad = |what: String, source: Option<invitation_core::BoxError>| {
        StoreError::corrupt(None, format!("outbox mail {id}: {what}"), source)
    };
    let read = |e: StoreError| match e {
        StoreError::Corrupt { reason, source, .. } => bad(reason, source),
        other => other,
    };
    let address = |text: &str, name: &str| {
        EmailAddress::parse(text).map_err(|_| bad(format!("{name} holds no e-mail address"), None))
    };
    let addresses = |index: usize, name: &str| -> Result<Vec<EmailAddress>, StoreError> {
        let texts: Vec<&str> = column(row, index, name, None).map_err(read)?;
        texts.into_iter().map(|t| address(t, name)).collect()
    };
    let attempts: i32 = column(row, 9, "attempts", None).map_err(read)?;
    Ok(QueuedMail {
        id: MailId::from_uuid(id),
        invitation: InvitationId::from_uuid(column(row, 1, "invitation", None).map_err(read)?),
        to: address(
            column(row, 2, "to_address", None).map_err(read)?,
            "to_address",
        )?,
        cc: addresses(3, "cc")?,
        bcc: addresses(4, "bcc")?,
        subject: column(row, 5, "subject", None).map_err(read)?,
        body: RenderedMail {
            html: column(row, 6, "html", None).map_err(read)?,
            text: column(row, 7, "plain_text", None).map_err(read)?,
        },
        queued_at: column(row, 8, "queued_at", None).map_err(read)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| bad(format!("attempts {attempts} is negative"), None))?,
    })
}
