//! The host-chosen prefix of the adapter's table names.

use crate::error::SqlxError;

/// The table prefix [`SqlxStore`](crate::SqlxStore) uses unless told
/// otherwise: the tables are `invitation_invitations`,
/// `invitation_outbox`, `invitation_counts` and `invitation_migrations`,
/// beside the host's own tables in one database.
pub const DEFAULT_PREFIX: &str = "invitation_";

/// A validated table prefix: empty, or `^[a-z_][a-z0-9_]{0,31}$`, not
/// `sqlite_…` (SQLite's own names). It goes into statement texts as it is,
/// so it can hold nothing but these characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix(String);

impl Prefix {
    pub(crate) fn parse(prefix: &str) -> Result<Self, SqlxError> {
        let bytes = prefix.as_bytes();
        let valid = prefix.is_empty()
            || (matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
                && bytes.len() <= 32
                && bytes
                    .iter()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
                && !prefix.starts_with("sqlite_"));
        if valid {
            Ok(Self(prefix.to_owned()))
        } else {
            Err(SqlxError::InvalidPrefix {
                prefix: prefix.to_owned(),
            })
        }
    }

    pub(crate) fn default_prefix() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the table `name` under this prefix.
    pub(crate) fn table(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_holds_only_lowercase_letters_digits_and_underscores() {
        for ok in ["", "invitation_", "app_", "_x", "a1_"] {
            assert!(Prefix::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["1a", "A_", "a-b", "a b", "a\"", "sqlite_x", &"a".repeat(33)] {
            assert!(Prefix::parse(bad).is_err(), "{bad:?}");
        }
    }
}
