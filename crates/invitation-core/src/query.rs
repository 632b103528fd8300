//! Listing: what the list use case asks storage for, and what it answers.

use chrono::{DateTime, Utc};

use crate::ids::{FlowId, UserId};
use crate::model::Invitation;

/// A field a list may be ordered by.
///
/// Exhaustive on purpose: a new field is a breaking change, so that every
/// adapter's `match` must say how it sorts by it instead of falling into a
/// catch-all arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    /// The id.
    Pk,
    /// The name (byte order, as PostgreSQL's `C` collation).
    Name,
    /// The expiry; `None` sorts after every timestamp (so first when descending).
    Expires,
    /// `false` before `true`.
    SingleUse,
    /// The bound flow's id; `None` sorts after every id.
    Flow,
    /// The creator's id.
    CreatedBy,
}

impl SortField {
    /// Every field, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Pk,
        Self::Name,
        Self::Expires,
        Self::SingleUse,
        Self::Flow,
        Self::CreatedBy,
    ];
}

/// An ordering: a field and a direction. Ties are always broken by id
/// ascending, so every ordering is total and stable across pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ordering {
    /// The field.
    pub field: SortField,
    /// Largest first; `None` values (which sort last ascending) come first.
    pub descending: bool,
}

impl Ordering {
    /// authentik's default: `-expires`, never-expiring invitations first.
    pub const DEFAULT: Self = Self {
        field: SortField::Expires,
        descending: true,
    };
}

impl Default for Ordering {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One search word, already resolved against the directories.
///
/// A row matches the word when its name or its expiry text (as
/// [`Invitation::expires_text`] writes it) contains `text`, ignoring ASCII
/// case, with `%`, `_` and `\` taken literally; or its creator is in
/// `creators`; or its flow is in `flows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    /// The word, as typed.
    pub text: String,
    /// Users whose username contains the word.
    pub creators: Vec<UserId>,
    /// Flows whose slug contains the word.
    pub flows: Vec<FlowId>,
}

impl SearchTerm {
    /// Whether `invitation` matches this word (the reference semantics every
    /// adapter must reproduce).
    pub fn matches(&self, invitation: &Invitation) -> bool {
        contains_ignore_ascii_case(invitation.name().as_str(), &self.text)
            || invitation
                .expires_text()
                .is_some_and(|t| contains_ignore_ascii_case(&t, &self.text))
            || self.creators.contains(&invitation.created_by())
            || invitation.flow().is_some_and(|f| self.flows.contains(f))
    }

    /// Whether the word could occur in some expiry text
    /// (`2036-02-03T12:30:45.000007Z`: digits, `-`, `:`, `.`, `T` and `Z`,
    /// the letters in either case). An adapter that computes the expiry
    /// text per row skips it for a word that cannot: the expiry text costs
    /// several times a name match. An empty word matches every name, so it
    /// needs no expiry text either.
    pub fn could_match_expiry_text(&self) -> bool {
        !self.text.is_empty()
            && self.text.bytes().all(|b| {
                b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'T' | b't' | b'Z' | b'z')
            })
    }
}

/// `text` as a SQL `LIKE` pattern matching it anywhere, with `%`, `_` and
/// `\` taken literally (each escaped by `\`, which the statement names as
/// its `ESCAPE` character or, in PostgreSQL, is `LIKE`'s default): what
/// the SQL adapters send for a search word.
pub fn like_contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Whether `haystack` contains `needle`, ignoring ASCII letter case.
pub(crate) fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Exact-match filters; every one that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Name equals this (case-sensitive).
    pub name: Option<String>,
    /// Creator is one of these (an empty list matches nothing).
    pub created_by: Option<Vec<UserId>>,
    /// Expiry equals this instant.
    pub expires: Option<DateTime<Utc>>,
    /// Bound flow is one of these (an empty list matches nothing).
    pub flow: Option<Vec<FlowId>>,
}

impl Filters {
    /// Whether `invitation` passes every filter (the reference semantics).
    pub fn matches(&self, invitation: &Invitation) -> bool {
        self.name
            .as_ref()
            .is_none_or(|n| invitation.name().as_str() == n)
            && self
                .created_by
                .as_ref()
                .is_none_or(|ids| ids.contains(&invitation.created_by()))
            && self.expires.is_none_or(|e| invitation.expires() == Some(e))
            && self
                .flow
                .as_ref()
                .is_none_or(|ids| invitation.flow().is_some_and(|f| ids.contains(f)))
    }
}

/// What the list use case asks storage for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Exact filters.
    pub filters: Filters,
    /// Every term must match.
    pub search: Vec<SearchTerm>,
    /// Sort order (ties by id ascending).
    pub ordering: Ordering,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

impl ListQuery {
    /// Whether `invitation` passes the filters and every search term.
    pub fn matches(&self, invitation: &Invitation) -> bool {
        self.filters.matches(invitation) && self.search.iter().all(|t| t.matches(invitation))
    }

    /// Compares two invitations in this query's order (the reference
    /// semantics every adapter must reproduce).
    pub fn compare(&self, a: &Invitation, b: &Invitation) -> std::cmp::Ordering {
        use std::cmp::Ordering as O;
        fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> O {
            match (a, b) {
                (Some(a), Some(b)) => a.cmp(&b),
                (None, None) => O::Equal,
                (None, Some(_)) => O::Greater,
                (Some(_), None) => O::Less,
            }
        }
        let primary = match self.ordering.field {
            SortField::Pk => O::Equal,
            SortField::Name => a.name().as_str().cmp(b.name().as_str()),
            SortField::Expires => nulls_last(a.expires(), b.expires()),
            SortField::SingleUse => a.single_use().cmp(&b.single_use()),
            SortField::Flow => nulls_last(a.flow(), b.flow()),
            SortField::CreatedBy => a.created_by().cmp(&b.created_by()),
        };
        let primary = if self.ordering.descending {
            primary.reverse()
        } else {
            primary
        };
        let by_id = a.id().cmp(b.id());
        let by_id = if self.ordering.field == SortField::Pk && self.ordering.descending {
            by_id.reverse()
        } else {
            by_id
        };
        primary.then(by_id)
    }
}

/// One page of rows, and how many rows match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPage {
    /// Every row matching the filters and search, ignoring offset and limit.
    pub total: u64,
    /// The rows of the page, in order.
    pub items: Vec<Invitation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(like_contains_pattern(r"a%b_c\d"), r"%a\%b\_c\\d%");
        assert_eq!(like_contains_pattern(""), "%%");
    }
}
