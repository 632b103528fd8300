//! PostgreSQL rows back into invitations and mails, checking the domain's
//! rules again ([`Invitation::from_stored`]): a row written by hand that
//! breaks them is [`StoreError::Corrupt`] naming it, never a panic. The
//! columns are those of `invitation_postgres_sql::COLUMNS` and
//! `MAIL_COLUMNS`.

use chrono::{DateTime, Utc};
use invitation_core::{Invitation, QueuedMail, StoreError, StoredInvitation, StoredMail, Version};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::rows::{column, corrupt, mail_corrupt};

/// `jsonb`'s type OID, fixed by PostgreSQL.
const JSONB: Oid = Oid(3802);

/// JSON text that is already valid (a `FixedData`'s compact text), bound
/// as `jsonb` as it is, and a `json`/`jsonb` column read as the text the
/// server sent, without going through a `serde_json::Value`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonText<'a>(pub(crate) &'a str);

fn is_json(ty: &PgTypeInfo) -> bool {
    ty.name().eq_ignore_ascii_case("jsonb") || ty.name().eq_ignore_ascii_case("json")
}

impl Type<Postgres> for JsonText<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSONB)
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        is_json(ty)
    }
}

impl Encode<'_, Postgres> for JsonText<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // `jsonb`'s binary form is a version byte (1) before the text.
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText<'r> {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let binary_jsonb = value.format() == PgValueFormat::Binary
            && value.type_info().name().eq_ignore_ascii_case("jsonb");
        let bytes = value.as_bytes()?;
        let text = if binary_jsonb {
            match bytes.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            bytes
        };
        Ok(Self(std::str::from_utf8(text)?))
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A `timestamptz` column read with checked arithmetic: a value past what
/// `DateTime<Utc>` holds (a row written by hand: the year 270000,
/// `infinity`) is an error to report as a corrupt row, where sqlx's own
/// decoding would overflow and panic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DbInstant(pub(crate) DateTime<Utc>);

impl Type<Postgres> for DbInstant {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for DbInstant {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Text {
            // Parsed, not computed: no overflow to fear.
            return <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Self);
        }
        let micros: i64 = Decode::<Postgres>::decode(value)?;
        micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Self)
            .ok_or_else(|| format!("timestamp {micros} µs after 2000 is out of range").into())
    }
}

/// A stored version: a positive `bigint`.
pub(crate) fn version_at(
    row: &PgRow,
    index: usize,
    id: Option<&Uuid>,
) -> Result<Version, StoreError> {
    let stored: i64 = column(row, index, "version", id)?;
    u64::try_from(stored)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| corrupt(id, format_args!("version {stored} is not positive"), None))
}

/// The id at `first` (the first of the invitation columns), or `None` when
/// it is NULL (the empty side of an outer join).
pub(crate) fn id_at(row: &PgRow, first: usize) -> Result<Option<Uuid>, StoreError> {
    column(row, first, "id", None)
}

/// The invitation in the invitation columns starting at `first`.
pub(crate) fn invitation_at(row: &PgRow, first: usize) -> Result<Invitation, StoreError> {
    let id: Uuid = column(row, first, "id", None)?;
    let at = Some(&id);
    let name: &str = column(row, first + 1, "name", at)?;
    let expires: Option<DbInstant> = column(row, first + 2, "expires", at)?;
    let JsonText(fixed_data) = column(row, first + 3, "fixed_data", at)?;
    let stored = StoredInvitation {
        id,
        name,
        expires: expires.map(|e| e.0),
        fixed_data,
        single_use: column(row, first + 4, "single_use", at)?,
        flow: column(row, first + 5, "flow", at)?,
        created_by: column(row, first + 6, "created_by", at)?,
        version: column(row, first + 7, "version", at)?,
    };
    Invitation::from_stored(stored).map_err(|e| corrupt(at, &e, Some(Box::new(e.clone()))))
}

/// The mail in the mail columns, checked by [`QueuedMail::from_stored`].
/// A column that cannot be read is [`StoreError::Corrupt`] naming the mail
/// (its `id` is `None`: the field names invitations).
pub(crate) fn mail_at(row: &PgRow) -> Result<QueuedMail, StoreError> {
    let id: Uuid = column(row, 0, "id", None)?;
    let read = |e: StoreError| mail_corrupt(&id, e);
    let cc: Vec<String> = column(row, 3, "cc", None).map_err(read)?;
    let bcc: Vec<String> = column(row, 4, "bcc", None).map_err(read)?;
    let attempts: i32 = column(row, 9, "attempts", None).map_err(read)?;
    QueuedMail::from_stored(StoredMail {
        id,
        invitation: column(row, 1, "invitation", None).map_err(read)?,
        to: column(row, 2, "to_address", None).map_err(read)?,
        cc: cc.iter().map(String::as_str).collect(),
        bcc: bcc.iter().map(String::as_str).collect(),
        subject: column(row, 5, "subject", None).map_err(read)?,
        html: column(row, 6, "html", None).map_err(read)?,
        text: column(row, 7, "plain_text", None).map_err(read)?,
        queued_at: column::<_, DbInstant>(row, 8, "queued_at", None)
            .map_err(read)?
            .0,
        attempts: i64::from(attempts),
    })
}
