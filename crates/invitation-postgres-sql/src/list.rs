//! [`ListQuery`] as one SQL statement of bounded shape.
//!
//! The statement returns the total and the page together, from one
//! snapshot, so an empty page (offset past the end, `limit` 0, nothing
//! matching) is one row holding the total and NULLs.
//!
//! Without filters or search words the page is read through the ordering's
//! index with its LIMIT, and the total is the sum of migration 0002's
//! counters:
//!
//! ```sql
//! SELECT c.total, p.* FROM (SELECT sum(n) AS total FROM counts) AS c
//! LEFT JOIN (SELECT <columns> FROM t ORDER BY <order> LIMIT $l OFFSET $o) AS p ON true
//! ORDER BY <order>
//! ```
//!
//! With them, the matching rows' ids and sort keys are found once, through
//! the filter and search indexes, and both the total and the page come
//! from that set:
//!
//! ```sql
//! WITH m AS MATERIALIZED (SELECT id, <sort column> FROM t WHERE <where>)
//! SELECT c.total, p.* FROM (SELECT count(*) AS total FROM m) AS c
//! LEFT JOIN (SELECT <columns> FROM (SELECT id FROM m ORDER BY <order>
//!                                   LIMIT $l OFFSET $o) AS pg
//!            JOIN t ON t.id = pg.id) AS p ON true
//! ORDER BY <order>
//! ```
//!
//! The conditions are tested once per row, not once for the count and again
//! for the page, and the page cannot be planned as a walk down the
//! ordering's index in the hope of finding `limit` matches early, which,
//! when few rows match, tests nearly every row of the table (a one-word
//! search matching 50 of 500,000 rows took 0.5 s that way, 10 ms this way).
//!
//! **Bounded shapes.** Every value is a bound parameter, and the text
//! depends on nothing but the ordering (12 of them) and whether the query
//! has any filter or search word at all:
//!
//! - Without either, the total is the sum of migration 0002's counters; the
//!   statement is prepared once per connection (12 texts).
//! - Otherwise `<where>` is always the same: four NULL-able filter slots
//!   (`$n IS NULL OR name = $n`, …), [`SEARCH_SLOTS`] NULL-able search-word
//!   slots, each the per-word condition written out, and one condition over
//!   arrays (`unnest(…) WITH ORDINALITY`, the words' creators and flows as
//!   (word, id) pairs) for any words past the slots. The adapters send it
//!   as an unnamed statement ([`ListStatement::unnamed`]): PostgreSQL plans
//!   it for the values at hand every time, so an empty slot folds away and
//!   the trigram, creator and flow indexes serve the words, a
//!   generic plan (which could use no index) is never chosen, and nothing
//!   stays behind on the server.
//!
//! So a connection holds at most 12 prepared list statements of a store,
//! whatever lists it is asked for.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use invitation_core::query::like_contains_pattern;
use invitation_core::{ListQuery, SortField};
use uuid::Uuid;

use crate::schema::{Statements, COLUMNS};

/// How many search words get a slot of their own in the statement text
/// (the core caps a search at 16 words); words past these are checked
/// through arrays, which no index serves.
pub const SEARCH_SLOTS: usize = 16;

/// A parameter of a list statement, by its PostgreSQL type, for the
/// adapter to bind as its driver does. `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `text`.
    Text(Option<String>),
    /// `text[]` (elements may be NULL).
    TextArray(Option<Vec<Option<String>>>),
    /// `int4[]`.
    Int4Array(Vec<i32>),
    /// `int8`.
    Int8(i64),
    /// `int8[]`.
    Int8Array(Option<Vec<i64>>),
    /// `timestamptz`.
    Timestamptz(Option<DateTime<Utc>>),
    /// `uuid[]`.
    UuidArray(Option<Vec<Uuid>>),
}

impl Param {
    /// The PostgreSQL type's name, as the statement text casts to it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::TextArray(_) => "text[]",
            Self::Int4Array(_) => "int4[]",
            Self::Int8(_) => "int8",
            Self::Int8Array(_) => "int8[]",
            Self::Timestamptz(_) => "timestamptz",
            Self::UuidArray(_) => "uuid[]",
        }
    }
}

/// A list statement and its parameters (`$1` is the first).
#[derive(Debug)]
pub struct ListStatement {
    /// Its text.
    pub sql: String,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// Whether to send it as an unnamed statement, planned for the values
    /// at hand every time (a filtered or searching list, whose text every
    /// such query shares: a generic plan could use no index), rather than
    /// prepare it once per connection (the unfiltered list, one text per
    /// ordering).
    pub unnamed: bool,
}

/// What a list call needs to do.
#[derive(Debug)]
pub enum Plan {
    /// Nothing can match (a name filter holding NUL, which PostgreSQL text
    /// cannot hold and no stored name contains; an expiry filter finer than
    /// the microseconds every stored expiry is cut to).
    Empty,
    /// Run this.
    Query(ListStatement),
}

struct Builder {
    params: Vec<Param>,
}

impl Builder {
    /// Adds a parameter and returns its placeholder, cast to its type so
    /// the text reads unambiguously.
    fn bind(&mut self, value: Param) -> String {
        let ty = value.type_name();
        self.params.push(value);
        format!("${}::{ty}", self.params.len())
    }
}

/// One search word as the statement takes it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Word {
    /// `None` when the word can match no name or expiry text.
    pattern: Option<String>,
    /// The pattern again when the word could occur in an expiry text,
    /// `None` when it cannot: the expiry text is computed per row and costs
    /// several times a name match, so it is only tried for such words.
    expiry: Option<String>,
    creators: Vec<i64>,
    flows: Vec<Uuid>,
}

/// The query's words, each once: two words with the same pattern (ignoring
/// ASCII case, as ILIKE here does) and the same creators and flows match
/// the same rows, so a repeat adds nothing but work.
fn words(query: &ListQuery) -> Vec<Word> {
    let mut words: Vec<Word> = query
        .search
        .iter()
        .map(|term| {
            let mut creators: Vec<i64> = term.creators.iter().map(|u| u.get()).collect();
            creators.sort_unstable();
            creators.dedup();
            let mut flows: Vec<Uuid> = term.flows.iter().map(|f| *f.as_uuid()).collect();
            flows.sort_unstable();
            flows.dedup();
            let pattern = search_pattern(&term.text).map(|p| p.to_ascii_lowercase());
            Word {
                expiry: pattern.clone().filter(|_| term.could_match_expiry_text()),
                pattern,
                creators,
                flows,
            }
        })
        .collect();
    words.sort_unstable();
    words.dedup();
    // PostgreSQL tests a row's conditions in the order written (among
    // equally costly ones) and stops at the first that fails: cheap words
    // first (no expiry text to compute), longer (rarer) words first.
    words.sort_by_key(|word| {
        (
            word.expiry.is_some(),
            std::cmp::Reverse(word.pattern.as_ref().map_or(0, String::len)),
        )
    });
    words
}

/// The ILIKE pattern for a search word, or `None` when the word cannot be
/// found in any name or expiry text. Names and expiry texts are ASCII, and
/// the reference ignores ASCII case only, so a word with a non-ASCII
/// character never matches them there; leaving such words out of ILIKE keeps
/// the database locale's Unicode case folding (e.g. the Kelvin sign folding
/// to `k`) from matching more than the reference. NUL cannot be sent at all.
fn search_pattern(text: &str) -> Option<String> {
    if text.bytes().all(|b| b.is_ascii() && b != 0) {
        Some(like_contains_pattern(text))
    } else {
        None
    }
}

/// The column an ordering sorts by before the id (`None` for the id).
fn sort_column(field: SortField) -> Option<&'static str> {
    Some(match field {
        SortField::Pk => return None,
        // The column is COLLATE "C": byte order.
        SortField::Name => "name",
        SortField::Expires => "expires",
        SortField::SingleUse => "single_use",
        SortField::Flow => "flow",
        SortField::CreatedBy => "created_by",
    })
}

fn order_by(field: SortField, descending: bool, prefix: &str) -> String {
    let Some(column) = sort_column(field) else {
        let direction = if descending { "DESC" } else { "ASC" };
        return format!("{prefix}id {direction}");
    };
    // NULLs after every value ascending, before every value descending (the
    // reference's `None` sorts greatest); ties by id ascending.
    let direction = if descending {
        "DESC NULLS FIRST"
    } else {
        "ASC NULLS LAST"
    };
    format!("{prefix}{column} {direction}, {prefix}id ASC")
}

/// Plans the statement for `query`.
pub fn plan(sql: &Statements, query: &ListQuery) -> Plan {
    let inner_order = order_by(query.ordering.field, query.ordering.descending, "");
    let outer_order = order_by(query.ordering.field, query.ordering.descending, "p.");
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let table = &sql.table;
    let columns = |prefix: &str| {
        COLUMNS.split(", ").fold(String::new(), |mut acc, column| {
            let _ = write!(acc, ", {prefix}{column}");
            acc
        })
    };
    let outer_columns = columns("p.");

    let filters = &query.filters;
    let unfiltered = filters.name.is_none()
        && filters.created_by.is_none()
        && filters.expires.is_none()
        && filters.flow.is_none()
        && query.search.is_empty();
    if unfiltered {
        // The total is the table's row count, which migration 0002 keeps
        // exactly in 64 counters: no scan of the table.
        let counts = &sql.counts;
        return Plan::Query(ListStatement {
            sql: format!(
                "SELECT c.total{outer_columns} \
                 FROM (SELECT sum(n)::bigint AS total FROM {counts}) AS c \
                 LEFT JOIN (SELECT {COLUMNS} FROM {table} \
                            ORDER BY {inner_order} LIMIT $1 OFFSET $2) AS p ON true \
                 ORDER BY {outer_order}"
            ),
            params: vec![Param::Int8(limit), Param::Int8(offset)],
            unnamed: false,
        });
    }

    if filters
        .name
        .as_deref()
        .is_some_and(|name| name.contains('\0'))
    {
        return Plan::Empty;
    }
    // Stored expiries are whole microseconds; the driver would truncate a
    // finer instant and match a row the reference does not.
    if filters
        .expires
        .is_some_and(|expires| expires.timestamp_subsec_nanos() % 1000 != 0)
    {
        return Plan::Empty;
    }

    let mut b = Builder { params: Vec::new() };
    let mut conditions: Vec<String> = Vec::new();
    let p = b.bind(Param::Text(filters.name.clone()));
    conditions.push(format!("({p} IS NULL OR t.name = {p})"));
    let users: Option<Vec<i64>> = filters
        .created_by
        .as_ref()
        .map(|users| users.iter().map(|u| u.get()).collect());
    let p = b.bind(Param::Int8Array(users));
    conditions.push(format!("({p} IS NULL OR t.created_by = ANY({p}))"));
    let p = b.bind(Param::Timestamptz(filters.expires));
    conditions.push(format!("({p} IS NULL OR t.expires = {p})"));
    let flows: Option<Vec<Uuid>> = filters
        .flow
        .as_ref()
        .map(|flows| flows.iter().map(|f| *f.as_uuid()).collect());
    let p = b.bind(Param::UuidArray(flows));
    conditions.push(format!("({p} IS NULL OR t.flow = ANY({p}))"));

    let expires_text = &sql.expires_text;
    let mut words = words(query).into_iter();
    for _ in 0..SEARCH_SLOTS {
        // An empty slot has NULL creators; a word that can match no text
        // has a NULL pattern, one that cannot be in an expiry text a NULL
        // expiry pattern, one without creators or flows empty arrays.
        // Planned for the values, each such arm folds to false and goes,
        // so a word without creators or flows is a bare `name ILIKE`, and
        // the trigram index can take several words in one scan.
        let (pattern, expiry, creators, flows) = match words.next() {
            Some(word) => (
                word.pattern,
                word.expiry,
                Some(word.creators),
                Some(word.flows),
            ),
            None => (None, None, None, None),
        };
        let pattern = b.bind(Param::Text(pattern));
        let expiry = b.bind(Param::Text(expiry));
        let creators = b.bind(Param::Int8Array(creators));
        let flows = b.bind(Param::UuidArray(flows));
        conditions.push(format!(
            "({creators} IS NULL \
              OR ({pattern} IS NOT NULL AND t.name ILIKE {pattern}) \
              OR ({expiry} IS NOT NULL AND {expires_text}(t.expires) ILIKE {expiry}) \
              OR (cardinality({creators}) > 0 AND t.created_by = ANY({creators})) \
              OR (cardinality({flows}) > 0 AND t.flow = ANY({flows})))"
        ));
    }
    // Words past the slots: every one must match, by text, creator or flow.
    let rest: Vec<Word> = words.collect();
    let (patterns, expiries, creator_pairs, flow_pairs) = if rest.is_empty() {
        (
            None,
            None,
            (Vec::new(), Vec::new()),
            (Vec::new(), Vec::new()),
        )
    } else {
        let mut creator_pairs = (Vec::new(), Vec::new());
        let mut flow_pairs = (Vec::new(), Vec::new());
        let mut patterns = Vec::with_capacity(rest.len());
        let mut expiries = Vec::with_capacity(rest.len());
        for (i, word) in rest.into_iter().enumerate() {
            let ordinal = i32::try_from(i + 1).unwrap_or(i32::MAX);
            for creator in word.creators {
                creator_pairs.0.push(ordinal);
                creator_pairs.1.push(creator);
            }
            for flow in word.flows {
                flow_pairs.0.push(ordinal);
                flow_pairs.1.push(flow);
            }
            patterns.push(word.pattern);
            expiries.push(word.expiry);
        }
        (Some(patterns), Some(expiries), creator_pairs, flow_pairs)
    };
    let patterns = b.bind(Param::TextArray(patterns));
    let expiries = b.bind(Param::TextArray(expiries));
    let creator_words = b.bind(Param::Int4Array(creator_pairs.0));
    let creator_ids = b.bind(Param::Int8Array(Some(creator_pairs.1)));
    let flow_words = b.bind(Param::Int4Array(flow_pairs.0));
    let flow_ids = b.bind(Param::UuidArray(Some(flow_pairs.1)));
    conditions.push(format!(
        "({patterns} IS NULL OR NOT EXISTS ( \
           SELECT 1 FROM unnest({patterns}, {expiries}) WITH ORDINALITY AS w(pattern, expiry, i) \
            WHERE (t.name ILIKE w.pattern OR {expires_text}(t.expires) ILIKE w.expiry) IS NOT TRUE \
              AND NOT EXISTS (SELECT 1 FROM unnest({creator_words}, {creator_ids}) AS c(i, id) \
                               WHERE c.i = w.i AND c.id = t.created_by) \
              AND NOT EXISTS (SELECT 1 FROM unnest({flow_words}, {flow_ids}) AS f(i, id) \
                               WHERE f.i = w.i AND f.id = t.flow)))"
    ));

    let where_clause = conditions.join(" AND ");
    let limit = b.bind(Param::Int8(limit));
    let offset = b.bind(Param::Int8(offset));
    let key = match sort_column(query.ordering.field) {
        Some(column) => format!("t.id, t.{column}"),
        None => "t.id".to_owned(),
    };
    let matched_order = order_by(query.ordering.field, query.ordering.descending, "m.");
    let page_columns = columns("t.");
    let page_columns = page_columns.trim_start_matches(", ");
    Plan::Query(ListStatement {
        sql: format!(
            "WITH m AS MATERIALIZED (SELECT {key} FROM {table} AS t WHERE {where_clause}) \
             SELECT c.total{outer_columns} \
             FROM (SELECT count(*) AS total FROM m) AS c \
             LEFT JOIN (SELECT {page_columns} \
                          FROM (SELECT m.id FROM m ORDER BY {matched_order} \
                                 LIMIT {limit} OFFSET {offset}) AS pg \
                          JOIN {table} AS t ON t.id = pg.id) AS p ON true \
             ORDER BY {outer_order}"
        ),
        params: b.params,
        unnamed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use invitation_core::{Filters, Ordering, SearchTerm};

    use crate::schema::Schema;

    fn query() -> ListQuery {
        ListQuery {
            filters: Filters::default(),
            search: Vec::new(),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 20,
        }
    }

    fn sql_of(query: &ListQuery) -> String {
        let statements = Statements::new(Schema::default());
        match plan(&statements, query) {
            Plan::Query(s) => s.sql,
            Plan::Empty => String::from("<empty>"),
        }
    }

    #[test]
    fn a_word_with_non_ascii_or_nul_characters_has_no_text_pattern() {
        assert_eq!(search_pattern("ab"), Some("%ab%".to_owned()));
        assert_eq!(search_pattern("\u{212a}"), None);
        assert_eq!(search_pattern("é"), None);
        assert_eq!(search_pattern("a\0"), None);
    }

    #[test]
    fn the_default_order_puts_never_expiring_rows_first_and_breaks_ties_by_id() {
        let sql = sql_of(&query());
        assert!(
            sql.contains("ORDER BY expires DESC NULLS FIRST, id ASC LIMIT"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY p.expires DESC NULLS FIRST, p.id ASC"),
            "{sql}"
        );
    }

    #[test]
    fn ordering_by_pk_descending_reverses_the_id_itself() {
        let mut q = query();
        q.ordering = Ordering {
            field: SortField::Pk,
            descending: true,
        };
        assert!(sql_of(&q).ends_with("ORDER BY p.id DESC"));
    }

    #[test]
    fn no_value_is_written_into_the_statement_text() {
        let mut q = query();
        q.filters.name = Some("'; DROP TABLE x; --".to_owned());
        q.search = vec![SearchTerm {
            text: "'; DROP TABLE y; --".to_owned(),
            creators: Vec::new(),
            flows: Vec::new(),
        }];
        let sql = sql_of(&q);
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains('\''), "{sql}");
    }

    #[test]
    fn a_name_filter_holding_nul_matches_nothing_without_a_query() {
        let mut q = query();
        q.filters.name = Some("a\0b".to_owned());
        assert_eq!(sql_of(&q), "<empty>");
    }
}
