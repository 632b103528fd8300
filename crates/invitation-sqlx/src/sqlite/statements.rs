//! The SQL text of the SQLite statements, for a table prefix.

use crate::prefix::Prefix;

/// The columns of an invitation row, in the order [`super::row`] reads
/// them.
pub(crate) const COLUMNS: &str =
    "id, name, expires, fixed_data, single_use, flow, created_by, version";

/// The columns of an outbox row, in the order [`super::row::mail_at`]
/// reads them.
pub(crate) const MAIL_COLUMNS: &str =
    "id, invitation, to_address, cc, bcc, subject, html, plain_text, queued_at, attempts";

/// The version after a write: one more, saturating at SQLite's largest
/// integer (past which `+ 1` would turn it into a float).
const NEXT_VERSION: &str =
    "CASE WHEN version < 9223372036854775807 THEN version + 1 ELSE version END";

/// The SQL text of every statement whose text does not depend on the call,
/// built once per store for its table prefix, and the list statement's
/// time limit.
#[derive(Debug, Clone)]
pub struct Statements {
    pub(crate) prefix: Prefix,
    /// How long a list statement may run (`None`: as long as it takes).
    pub(crate) list_timeout: Option<std::time::Duration>,
    pub(crate) insert: String,
    pub(crate) get: String,
    pub(crate) update: String,
    pub(crate) version: String,
    pub(crate) delete: String,
    pub(crate) consume: String,
    pub(crate) purge_expired: String,
    pub(crate) unbind_flow: String,
    pub(crate) delete_created_by: String,
    pub(crate) ping: String,
    /// The invitations table and migration 3's row count, which list
    /// statements name.
    pub(crate) table: String,
    pub(crate) counts: String,
    pub(crate) enqueue: String,
    pub(crate) claim: String,
    pub(crate) record: String,
    pub(crate) purge_finished: String,
}

pub(crate) fn statements(prefix: Prefix) -> Statements {
    let t = prefix.table("invitations");
    let counts = prefix.table("counts");
    let o = prefix.table("outbox");
    Statements {
        prefix,
        list_timeout: Some(super::DEFAULT_LIST_TIMEOUT),
        // A taken id inserts nothing (no row changed: the caller's
        // conflict) rather than failing the statement.
        insert: format!(
            "INSERT INTO {t} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (id) DO NOTHING"
        ),
        get: format!("SELECT {COLUMNS} FROM {t} WHERE id = ?1"),
        // ?1 id; each field with a flag saying whether the patch gives it
        // (?3 expires given, ?4 its value; ?7 flow given, ?8 its value) or
        // NULL for "keep" (?2 name, ?5 fixed_data, ?6 single_use); ?9 the
        // expected version or NULL. Written only at the expected version,
        // in one statement.
        update: format!(
            "UPDATE {t} SET \
               name = COALESCE(?2, name), \
               expires = CASE WHEN ?3 THEN ?4 ELSE expires END, \
               fixed_data = COALESCE(?5, fixed_data), \
               single_use = COALESCE(?6, single_use), \
               flow = CASE WHEN ?7 THEN ?8 ELSE flow END, \
               version = {NEXT_VERSION} \
             WHERE id = ?1 AND (?9 IS NULL OR version = ?9) \
             RETURNING {COLUMNS}"
        ),
        version: format!("SELECT version FROM {t} WHERE id = ?1"),
        delete: format!(
            "DELETE FROM {t} WHERE id = ?1 AND (?2 IS NULL OR version = ?2) RETURNING version"
        ),
        // Redemption of a single-use invitation: deleted only when it is
        // valid at ?2 in flow ?3 (NULL: outside any flow, where only an
        // unbound invitation fits). One statement, so one caller gets it.
        consume: format!(
            "DELETE FROM {t} \
             WHERE id = ?1 AND single_use = 1 \
               AND (expires IS NULL OR expires > ?2) \
               AND (flow IS NULL OR flow = ?3) \
             RETURNING {COLUMNS}"
        ),
        purge_expired: format!("DELETE FROM {t} WHERE expires <= ?1"),
        unbind_flow: format!(
            "UPDATE {t} SET flow = NULL, version = {NEXT_VERSION} WHERE flow = ?1"
        ),
        delete_created_by: format!("DELETE FROM {t} WHERE created_by = ?1"),
        ping: "SELECT 1".to_owned(),
        counts,
        table: t.clone(),
        // The batch as one JSON array of objects (?1): one statement, so
        // all or none (a taken id fails it whole), each due at its queue
        // time.
        enqueue: format!(
            "INSERT INTO {o} (id, invitation, to_address, cc, bcc, subject, html, plain_text, \
                              queued_at, next_attempt_at) \
             SELECT json_extract(m.value, '$.id'), json_extract(m.value, '$.invitation'), \
                    json_extract(m.value, '$.to'), json(json_extract(m.value, '$.cc')), \
                    json(json_extract(m.value, '$.bcc')), json_extract(m.value, '$.subject'), \
                    json_extract(m.value, '$.html'), json_extract(m.value, '$.text'), \
                    json_extract(m.value, '$.queued_at'), json_extract(m.value, '$.queued_at') \
               FROM json_each(?1) AS m"
        ),
        // One statement: up to ?3 mails due at ?1, oldest first, leased
        // until ?2. SQLite runs one writer at a time per database file and
        // this statement reads the due mails under its write lock, so no
        // other claim, in this process or another, sees them due until the
        // lease ends. RETURNING's order is not the subquery's: the caller
        // sorts.
        claim: format!(
            "UPDATE {o} SET lease_until = ?2 \
             WHERE id IN (SELECT id FROM {o} \
                           WHERE state = 'queued' AND next_attempt_at <= ?1 \
                             AND (lease_until IS NULL OR lease_until <= ?1) \
                           ORDER BY queued_at, id \
                           LIMIT ?3) \
             RETURNING {MAIL_COLUMNS}"
        ),
        // An attempt (?1 id): the state becomes ?2 ('queued' again for a
        // retry, due at ?3; 'sent' or 'given_up', finished at ?4), with the
        // error ?5 if any. A finished mail stays as it is.
        record: format!(
            "UPDATE {o} SET \
               attempts = attempts + CASE WHEN attempts < 4294967295 THEN 1 ELSE 0 END, \
               lease_until = NULL, \
               state = ?2, \
               next_attempt_at = COALESCE(?3, next_attempt_at), \
               finished_at = CASE WHEN ?2 = 'queued' THEN NULL ELSE ?4 END, \
               last_error = COALESCE(?5, last_error) \
             WHERE id = ?1 AND state = 'queued'"
        ),
        purge_finished: format!("DELETE FROM {o} WHERE state <> 'queued' AND finished_at < ?1"),
    }
}
