//! The host-chosen schema and the SQL text of every fixed statement.

/// The schema the adapters use unless the host names another.
pub const DEFAULT_SCHEMA: &str = "invitation";

/// The columns of an invitation row, in the order the statements answer
/// them (and the insert takes its parameters): `id` uuid, `name` text,
/// `expires` timestamptz NULL, `fixed_data` jsonb, `single_use` boolean,
/// `flow` uuid NULL, `created_by` bigint, `version` bigint.
pub const COLUMNS: &str = "id, name, expires, fixed_data, single_use, flow, created_by, version";

/// The columns of an outbox row, in the order the claim answers them:
/// `id` uuid, `invitation` uuid, `to_address` text, `cc` and `bcc` text[],
/// `subject`, `html`, `plain_text` text, `queued_at` timestamptz,
/// `attempts` integer.
pub const MAIL_COLUMNS: &str =
    "id, invitation, to_address, cc, bcc, subject, html, plain_text, queued_at, attempts";

/// A schema name that is not a plain lowercase SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema name {name:?}: expected ^[a-z_][a-z0-9_]{{0,62}}$, not starting with pg_")]
pub struct InvalidSchema {
    /// The name given.
    pub name: String,
}

/// A validated schema name: `^[a-z_][a-z0-9_]{0,62}$`, not `pg_…` (which
/// PostgreSQL reserves). It goes into statement texts as it is, quoted, so
/// it can hold nothing but these characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    name: String,
}

impl Default for Schema {
    /// [`DEFAULT_SCHEMA`].
    fn default() -> Self {
        Self {
            name: DEFAULT_SCHEMA.to_owned(),
        }
    }
}

impl Schema {
    /// `name` as a schema.
    ///
    /// # Errors
    /// [`InvalidSchema`] unless `name` matches `^[a-z_][a-z0-9_]{0,62}$`
    /// and does not start with `pg_`.
    pub fn parse(name: &str) -> Result<Self, InvalidSchema> {
        let bytes = name.as_bytes();
        let valid = matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
            && !name.starts_with("pg_");
        if valid {
            Ok(Self {
                name: name.to_owned(),
            })
        } else {
            Err(InvalidSchema {
                name: name.to_owned(),
            })
        }
    }

    /// The bare name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as a quoted SQL identifier (it holds no `"`, so quoting is
    /// just wrapping).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.name)
    }

    /// The qualified invitations table.
    pub fn table(&self) -> String {
        format!("{}.invitations", self.quoted())
    }

    /// The qualified outbox table (migration 0004).
    pub fn outbox(&self) -> String {
        format!("{}.outbox", self.quoted())
    }

    /// The qualified expiry-text function (see migration 0001).
    pub fn expires_text(&self) -> String {
        format!("{}.expires_text", self.quoted())
    }
}

/// The SQL of every statement whose text does not depend on the call, for
/// one schema. The comments in [`Statements::new`] say what each parameter
/// is; the fields name the operation of the store's port each serves.
#[derive(Debug)]
pub struct Statements {
    /// The schema they are written for.
    pub schema: Schema,
    /// The qualified invitations table.
    pub table: String,
    /// The row counters of migration 0002.
    pub counts: String,
    /// The qualified expiry-text function.
    pub expires_text: String,
    /// `insert`: the eight [`COLUMNS`] as `$1`…`$8`; no row on a taken id.
    pub insert: String,
    /// `get`: `$1` id.
    pub get: String,
    /// `update`: a compare-and-set write answering `written` and the row.
    pub update: String,
    /// `delete`: a compare-and-set delete answering `deleted` and the version.
    pub delete: String,
    /// `redeem`: consumes a valid single-use row, answering `consumed` and
    /// the row.
    pub redeem: String,
    /// `purge_expired`: `$1` now.
    pub purge_expired: String,
    /// `unbind_flow`: `$1` flow.
    pub unbind_flow: String,
    /// `delete_created_by`: `$1` user.
    pub delete_created_by: String,
    /// `ping`: also proves the table is there.
    pub ping: String,
    /// The outbox's `enqueue`: one array per column.
    pub enqueue: String,
    /// The outbox's `claim`: `$1` now, `$2` lease end, `$3` limit.
    pub claim: String,
    /// The outbox's `record`.
    pub record: String,
    /// The outbox's `purge_finished`: `$1` before.
    pub purge_finished: String,
}

impl Statements {
    /// The statements for `schema`.
    pub fn new(schema: Schema) -> Self {
        let t = schema.table();
        let o = schema.outbox();
        Self {
            // One statement for the whole batch, one array per column ($1
            // ids, $2 invitations, $3 to, $4/$5 cc and bcc as one JSON
            // array of addresses per mail, $6 subjects, $7 HTML, $8 text, $9
            // queue times), due at its queue time. A batch holding an id
            // already stored inserts nothing and answers that id; an id
            // inserted by a concurrent statement not yet visible here makes
            // the insert fail whole with a unique violation.
            enqueue: format!(
                "WITH batch AS ( \
                   SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], \
                                        $5::text[], $6::text[], $7::text[], $8::text[], \
                                        $9::timestamptz[]) \
                     AS b (id, invitation, to_address, cc, bcc, subject, html, plain_text, \
                           queued_at)), \
                 taken AS (SELECT id FROM {o} WHERE id = ANY($1) LIMIT 1), \
                 inserted AS ( \
                   INSERT INTO {o} (id, invitation, to_address, cc, bcc, subject, html, \
                                    plain_text, queued_at, next_attempt_at) \
                   SELECT id, invitation, to_address, \
                          ARRAY(SELECT jsonb_array_elements_text(cc::jsonb)), \
                          ARRAY(SELECT jsonb_array_elements_text(bcc::jsonb)), \
                          subject, html, plain_text, queued_at, queued_at \
                     FROM batch WHERE NOT EXISTS (SELECT 1 FROM taken) \
                   RETURNING 1) \
                 SELECT (SELECT count(*) FROM inserted) AS inserted, \
                        (SELECT id FROM taken) AS taken"
            ),
            // One statement: lock up to $3 due mails ($1 now), oldest
            // first, skipping those another claim holds locked, and lease
            // them until $2. A mail a concurrent claim leased after this
            // statement's snapshot is re-checked once locked, and is no
            // longer due.
            claim: format!(
                "WITH due AS MATERIALIZED ( \
                   SELECT id FROM {o} \
                    WHERE state = 'queued' AND next_attempt_at <= $1 \
                      AND (lease_until IS NULL OR lease_until <= $1) \
                    ORDER BY queued_at, id \
                    LIMIT $3 \
                      FOR UPDATE SKIP LOCKED), \
                 claimed AS ( \
                   UPDATE {o} AS o SET lease_until = $2 FROM due WHERE o.id = due.id \
                   RETURNING o.id, o.invitation, o.to_address, o.cc, o.bcc, o.subject, \
                             o.html, o.plain_text, o.queued_at, o.attempts) \
                 SELECT {MAIL_COLUMNS} FROM claimed ORDER BY queued_at, id"
            ),
            // An attempt ($1 id): the state becomes $2 ('queued' again for
            // a retry, due at $3; 'sent' or 'given_up', finished at $4),
            // with the error $5 if any. A finished mail stays as it is.
            record: format!(
                "UPDATE {o} SET \
                   attempts = attempts + CASE WHEN attempts < 2147483647 THEN 1 ELSE 0 END, \
                   lease_until = NULL, \
                   state = $2::text, \
                   next_attempt_at = COALESCE($3::timestamptz, next_attempt_at), \
                   finished_at = CASE WHEN $2::text = 'queued' THEN NULL ELSE $4::timestamptz END, \
                   last_error = COALESCE($5::text, last_error) \
                 WHERE id = $1 AND state = 'queued'"
            ),
            purge_finished: format!("DELETE FROM {o} WHERE state <> 'queued' AND finished_at < $1"),
            // A taken id inserts nothing (0 rows: the caller's conflict)
            // rather than raising a unique violation, which would abort a
            // host's transaction.
            insert: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO NOTHING"
            ),
            get: format!("SELECT {COLUMNS} FROM {t} WHERE id = $1"),
            // One statement: write the given fields ($2 name, $3/$4 whether
            // and what expires, $5 fixed_data, $6 single_use, $7/$8 whether
            // and what flow; a NULL means "keep") to the row as it is when
            // its lock is taken, if it is at the expected version ($9, NULL
            // for any), and answer the row written; otherwise the row as it
            // is now, for the caller to classify. Under READ COMMITTED the
            // WHERE is re-checked on the latest row version after waiting
            // for a concurrent writer, so a compare-and-set never passes on
            // a version another write has replaced; the row it answers
            // instead is read with `FOR SHARE`, which also follows to the
            // latest committed version (or finds none, once deleted) where a
            // plain read would see the statement's snapshot.
            update: format!(
                "WITH updated AS ( \
                   UPDATE {t} SET \
                     name = COALESCE($2, name), \
                     expires = CASE WHEN $3 THEN $4 ELSE expires END, \
                     fixed_data = COALESCE($5, fixed_data), \
                     single_use = COALESCE($6, single_use), \
                     flow = CASE WHEN $7 THEN $8 ELSE flow END, \
                     version = version + 1 \
                   WHERE id = $1 AND ($9::bigint IS NULL OR version = $9) \
                   RETURNING {COLUMNS}), \
                 found AS ( \
                   SELECT {COLUMNS} FROM {t} \
                    WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM updated) \
                   FOR SHARE) \
                 SELECT true AS written, {COLUMNS} FROM updated \
                 UNION ALL \
                 SELECT false AS written, {COLUMNS} FROM found"
            ),
            // As `update`: delete at the expected version ($2, NULL for
            // any), or answer the version there is now (read `FOR SHARE`).
            delete: format!(
                "WITH deleted AS ( \
                   DELETE FROM {t} WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) \
                   RETURNING version), \
                 found AS ( \
                   SELECT version FROM {t} \
                    WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM deleted) \
                   FOR SHARE) \
                 SELECT true AS deleted, version FROM deleted \
                 UNION ALL \
                 SELECT false AS deleted, version FROM found"
            ),
            // One statement: consume the row if it is single-use and valid
            // ($1 id, $2 flow, $3 now); otherwise return it as it was when
            // the statement began, for the caller to classify. Row locking
            // makes the DELETE succeed for exactly one concurrent caller.
            redeem: format!(
                "WITH consumed AS ( \
                   DELETE FROM {t} \
                    WHERE id = $1 AND single_use \
                      AND (expires IS NULL OR expires > $3) \
                      AND (flow IS NULL OR flow = $2) \
                   RETURNING {COLUMNS}) \
                 SELECT true AS consumed, {COLUMNS} FROM consumed \
                 UNION ALL \
                 SELECT false AS consumed, {COLUMNS} FROM {t} \
                  WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM consumed)"
            ),
            purge_expired: format!("DELETE FROM {t} WHERE expires <= $1"),
            unbind_flow: format!(
                "UPDATE {t} SET flow = NULL, version = version + 1 WHERE flow = $1"
            ),
            delete_created_by: format!("DELETE FROM {t} WHERE created_by = $1"),
            // Also proves the table is there (migrated).
            ping: format!("SELECT 1 FROM {t} LIMIT 0"),
            counts: format!("{}.invitation_counts", schema.quoted()),
            expires_text: schema.expires_text(),
            table: t,
            schema,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_identifiers_of_up_to_63_characters_are_valid_schemas() {
        for ok in ["invitation", "_x", "a", "inv_test_0123abc", &"a".repeat(63)] {
            assert!(Schema::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn anything_else_is_refused_as_a_schema() {
        for bad in [
            "",
            "1abc",
            "Invitation",
            "a-b",
            "a b",
            "a\"b",
            "a;drop",
            "pg_catalog",
            "é",
            &"a".repeat(64),
        ] {
            assert!(Schema::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_table_is_qualified_by_the_quoted_schema() {
        let schema = Schema::parse("user").unwrap();
        assert_eq!(schema.table(), "\"user\".invitations");
    }
}
