//! SQLite rows back into invitations and mails, checking the domain's rules
//! again ([`Invitation::from_stored`]): a row written by hand that breaks
//! them, or holds a value of another type, is [`StoreError::Corrupt`]
//! naming it, never a panic.

use chrono::{DateTime, Utc};
use invitation_core::{Invitation, QueuedMail, StoreError, StoredInvitation, StoredMail};
use sqlx::sqlite::SqliteRow;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

pub(crate) use crate::rows::{column, corrupt, mail_corrupt};

/// An instant from its stored microseconds since the epoch (UTC).
pub(crate) fn instant(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

/// The text the adapter stores for a UUID (lowercase, hyphenated), which
/// every statement compares, written into `buffer`.
fn stored_uuid<'b>(uuid: &Uuid, buffer: &'b mut [u8; Hyphenated::LENGTH]) -> &'b str {
    uuid.hyphenated().encode_lower(buffer)
}

/// [`stored_uuid`]'s text, to bind.
pub(crate) fn uuid_text(uuid: &Uuid) -> String {
    stored_uuid(uuid, &mut [0; Hyphenated::LENGTH]).to_owned()
}

/// A UUID from its stored text, which must be [`stored_uuid`]'s: the
/// statements compare the text, so a row holding another form of a UUID
/// (uppercase, braced, without hyphens) would be listed but never found,
/// updated or redeemed.
fn parse_uuid(text: &str, name: &str, id: Option<&Uuid>) -> Result<Uuid, StoreError> {
    let uuid = Uuid::parse_str(text).map_err(|e| {
        corrupt(
            id,
            format_args!("{name} {text:?} is not a UUID"),
            Some(Box::new(e)),
        )
    })?;
    if stored_uuid(&uuid, &mut [0; Hyphenated::LENGTH]) != text {
        return Err(corrupt(
            id,
            format_args!("{name} {text:?} is not a lowercase hyphenated UUID"),
            None,
        ));
    }
    Ok(uuid)
}

/// A UUID from its stored text.
fn uuid_at(
    row: &SqliteRow,
    index: usize,
    name: &str,
    id: Option<&Uuid>,
) -> Result<Uuid, StoreError> {
    let text: &str = column(row, index, name, id)?;
    parse_uuid(text, name, id)
}

/// The id of the row in the columns of
/// [`COLUMNS`](super::statements::COLUMNS) starting at `first`, or `None`
/// when it is NULL (the empty side of an outer join).
pub(crate) fn id_at(row: &SqliteRow, first: usize) -> Result<Option<Uuid>, StoreError> {
    let text: Option<&str> = column(row, first, "id", None)?;
    text.map(|text| parse_uuid(text, "id", None)).transpose()
}

/// The invitation in the columns of [`COLUMNS`](super::statements::COLUMNS)
/// starting at `first`.
pub(crate) fn invitation_at(row: &SqliteRow, first: usize) -> Result<Invitation, StoreError> {
    let id = uuid_at(row, first, "id", None)?;
    let at = Some(&id);
    let name: &str = column(row, first + 1, "name", at)?;
    let expires: Option<i64> = column(row, first + 2, "expires", at)?;
    let expires = expires
        .map(|micros| {
            instant(micros)
                .ok_or_else(|| corrupt(at, format_args!("expires {micros} is out of range"), None))
        })
        .transpose()?;
    let fixed_data: &str = column(row, first + 3, "fixed_data", at)?;
    let flow: Option<&str> = column(row, first + 5, "flow", at)?;
    let flow = flow.map(|text| parse_uuid(text, "flow", at)).transpose()?;
    let stored = StoredInvitation {
        id,
        name,
        expires,
        fixed_data,
        single_use: column(row, first + 4, "single_use", at)?,
        flow,
        created_by: column(row, first + 6, "created_by", at)?,
        version: column(row, first + 7, "version", at)?,
    };
    Invitation::from_stored(stored).map_err(|e| corrupt(at, &e, Some(Box::new(e.clone()))))
}

/// The mail in the columns of [`super::statements::MAIL_COLUMNS`], checked
/// by [`QueuedMail::from_stored`]; cc and bcc are JSON arrays of address
/// texts. A column that cannot be read is [`StoreError::Corrupt`] naming
/// the mail (its `id` is `None`: the field names invitations).
pub(crate) fn mail_at(row: &SqliteRow) -> Result<QueuedMail, StoreError> {
    let id = uuid_at(row, 0, "id", None)?;
    let read = |e: StoreError| mail_corrupt(&id, e);
    let addresses = |index: usize, name: &str| -> Result<Vec<&str>, StoreError> {
        let json: &str = column(row, index, name, None).map_err(read)?;
        serde_json::from_str(json).map_err(|e| {
            read(corrupt(
                None,
                format!("{name} is not a JSON array of texts"),
                Some(Box::new(e)),
            ))
        })
    };
    let queued_at: i64 = column(row, 8, "queued_at", None).map_err(read)?;
    QueuedMail::from_stored(StoredMail {
        id,
        invitation: uuid_at(row, 1, "invitation", None).map_err(read)?,
        to: column(row, 2, "to_address", None).map_err(read)?,
        cc: addresses(3, "cc")?,
        bcc: addresses(4, "bcc")?,
        subject: column(row, 5, "subject", None).map_err(read)?,
        html: column(row, 6, "html", None).map_err(read)?,
        text: column(row, 7, "plain_text", None).map_err(read)?,
        queued_at: instant(queued_at).ok_or_else(|| {
            read(corrupt(
                None,
                format!("queued_at {queued_at} is out of range"),
                None,
            ))
        })?,
        attempts: column(row, 9, "attempts", None).map_err(read)?,
    })
}
