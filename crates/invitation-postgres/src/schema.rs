//! The host-chosen schema and the SQL text of every fixed statement.

use crate::error::PgError;

/// The columns of an invitation row, in the order [`crate::row`] reads them.
pub(crate) const COLUMNS: &str =
    "id, name, expires, fixed_data, single_use, flow, created_by, version";

/// A validated schema name: `^[a-z_][a-z0-9_]{0,62}$`, not `pg_…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schema {
    name: String,
}

impl Schema {
    pub(crate) fn default_schema() -> Self {
        Self {
            name: crate::DEFAULT_SCHEMA.to_owned(),
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self, PgError> {
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
            Err(PgError::InvalidSchema {
                name: name.to_owned(),
            })
        }
    }

    /// The bare name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The name as a quoted SQL identifier (it holds no `"`, so quoting is
    /// just wrapping).
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.name)
    }

    /// The qualified invitations table.
    pub(crate) fn table(&self) -> String {
        format!("{}.invitations", self.quoted())
    }

    /// The qualified expiry-text function (see migration 0001).
    pub(crate) fn expires_text(&self) -> String {
        format!("{}.expires_text", self.quoted())
    }
}

/// The SQL of every statement whose text does not depend on the call.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) schema: Schema,
    pub(crate) table: String,
    /// The row counters of migration 0002.
    pub(crate) counts: String,
    pub(crate) expires_text: String,
    pub(crate) insert: String,
    pub(crate) get: String,
    pub(crate) update: String,
    pub(crate) delete: String,
    pub(crate) redeem: String,
    pub(crate) purge_expired: String,
    pub(crate) unbind_flow: String,
    pub(crate) delete_created_by: String,
    pub(crate) ping: String,
}

impl Statements {
    pub(crate) fn new(schema: Schema) -> Self {
        let t = schema.table();
        Self {
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
            // for any), and answer the row written; otherwise the row as the
            // statement found it, for the caller to classify. Under READ
            // COMMITTED the WHERE is re-checked on the latest row version
            // after waiting for a concurrent writer, so a compare-and-set
            // never passes on a version another write has replaced.
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
                   RETURNING {COLUMNS}) \
                 SELECT true AS written, {COLUMNS} FROM updated \
                 UNION ALL \
                 SELECT false AS written, {COLUMNS} FROM {t} \
                  WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM updated)"
            ),
            // As `update`: delete at the expected version ($2, NULL for
            // any), or answer the version found.
            delete: format!(
                "WITH deleted AS ( \
                   DELETE FROM {t} WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) \
                   RETURNING version) \
                 SELECT true AS deleted, version FROM deleted \
                 UNION ALL \
                 SELECT false AS deleted, version FROM {t} \
                  WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM deleted)"
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
            assert!(
                matches!(Schema::parse(bad), Err(PgError::InvalidSchema { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_table_is_qualified_by_the_quoted_schema() {
        let schema = Schema::parse("user").unwrap();
        assert_eq!(schema.table(), "\"user\".invitations");
    }
}
