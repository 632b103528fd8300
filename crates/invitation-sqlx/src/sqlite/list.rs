//! `ListQuery` in SQLite: one statement, whose text holds a condition
//! for each filter the query has and none for the others (SQLite plans a
//! statement once, so `?1 IS NULL OR name = ?1` would keep it from using
//! the name index even when the filter is given), and one for each search
//! word, up to [`SEARCH_SLOTS`]; words past those go in as one JSON array
//! the statement walks with `json_each`. Every value is a parameter, and
//! the texts form a fixed set: 12 orderings, 16 combinations of filters,
//! 0 to 16 word slots, with or without words past them.
//!
//! Without filters or search words the total is migration 3's row count
//! and the page is read off the ordering's index (the default ordering's
//! own index holds `expires IS NULL` first, as the statement writes it).
//! With them, the matching rows are counted and paged through the filter
//! indexes; a search word is tested on every row the filters leave, as
//! SQLite has no index for a substring.

use invitation_core::query::like_contains_pattern;
use invitation_core::{ListQuery, SearchTerm, SortField};
use serde_json::json;
use sqlx::query;

use super::row::uuid_text;
use super::Query;

use super::statements::COLUMNS;

/// The column an ordering sorts by before the id (`None` for the id).
fn sort_column(field: SortField) -> Option<&'static str> {
    Some(match field {
        SortField::Pk => return None,
        // BINARY collation: byte order.
        SortField::Name => "name",
        SortField::Expires => "expires",
        SortField::SingleUse => "single_use",
        // Lowercase hyphenated UUID text: the UUIDs' byte order.
        SortField::Flow => "flow",
        SortField::CreatedBy => "created_by",
    })
}

fn order_by(field: SortField, descending: bool, prefix: &str) -> String {
    let direction = if descending { "DESC" } else { "ASC" };
    let Some(column) = sort_column(field) else {
        return format!("{prefix}id {direction}");
    };
    // NULLs after every value ascending, before every value descending (the
    // reference's `None` sorts greatest); ties by id ascending. SQLite sorts
    // NULL lowest: `col IS NULL` first, in the same direction, puts it
    // greatest, in a form an index can hold.
    if matches!(field, SortField::Expires | SortField::Flow) {
        format!(
            "({prefix}{column} IS NULL) {direction}, {prefix}{column} {direction}, {prefix}id ASC"
        )
    } else {
        format!("{prefix}{column} {direction}, {prefix}id ASC")
    }
}

/// How many search words get a condition (and parameters) of their own;
/// the core allows no more words than this, so [`Params::rest`] holds
/// words only for a caller of the store that sends more.
pub(crate) const SEARCH_SLOTS: usize = invitation_core::MAX_SEARCH_WORDS;

/// The parameter numbers of word slot `i`: its name pattern, its expiry
/// pattern, its creators and its flows (JSON arrays of ids).
fn slot_params(i: usize) -> [usize; 4] {
    let first = 8 + 4 * i;
    [first, first + 1, first + 2, first + 3]
}

/// The list statement for `query` with `slots` word slots and, when
/// `rest`, the words past them. Parameters, each in the text only when the
/// query has it (all seven are always bound, then four per slot): ?1 the
/// name filter, ?2 the creators filter (a JSON array of ids), ?3 the
/// expiry filter (microseconds), ?4 the flows filter (a JSON array of
/// ids), ?5 the words past the slots (see [`params`]); ?6 limit, ?7
/// offset; from ?8 the slots, four each ([`slot_params`]).
///
/// One statement, so the count and the page come from one snapshot; the
/// count is one row even past the last page (the page's side of the outer
/// join is then NULL).
pub(crate) fn statement(
    table: &str,
    counts: &str,
    query: &ListQuery,
    slots: usize,
    rest: bool,
) -> String {
    let filters = &query.filters;
    let mut conditions: Vec<&str> = Vec::new();
    if filters.name.is_some() {
        conditions.push("t.name = ?1");
    }
    if filters.created_by.is_some() {
        conditions.push("t.created_by IN (SELECT value FROM json_each(?2))");
    }
    if filters.expires.is_some() {
        conditions.push("t.expires = ?3");
    }
    if filters.flow.is_some() {
        conditions.push("t.flow IN (SELECT value FROM json_each(?4))");
    }
    // Each word must match: its pattern in the name or the expiry text
    // (LIKE ignores ASCII case only, as the reference; `\` escapes), or the
    // creator or flow among its ids. COALESCE: a NULL pattern (a word no
    // text can hold) or a NULL expiry or flow is "no match", never an
    // unknown that would keep the row. A slot's expiry pattern is NULL for
    // a word no expiry text can hold, and then the row's expiry text (a
    // strftime per row) is never computed.
    let slots: Vec<String> = (0..slots)
        .map(|i| {
            let [pattern, expiry, creators, flows] = slot_params(i);
            format!(
                "(COALESCE(t.name LIKE ?{pattern} ESCAPE '\\', 0) \
                  OR (?{expiry} IS NOT NULL \
                      AND COALESCE(t.expires_text LIKE ?{expiry} ESCAPE '\\', 0)) \
                  OR t.created_by IN (SELECT value FROM json_each(?{creators})) \
                  OR COALESCE(t.flow IN (SELECT value FROM json_each(?{flows})), 0))"
            )
        })
        .collect();
    conditions.extend(slots.iter().map(String::as_str));
    if rest {
        conditions.push(
            "NOT EXISTS ( \
               SELECT 1 FROM json_each(?5) AS w \
                WHERE NOT ( \
                      COALESCE(t.name LIKE json_extract(w.value, '$.p') ESCAPE '\\', 0) \
                   OR COALESCE(t.expires_text LIKE json_extract(w.value, '$.p') ESCAPE '\\', 0) \
                   OR t.created_by IN (SELECT value FROM json_each(w.value, '$.c')) \
                   OR COALESCE(t.flow IN (SELECT value FROM json_each(w.value, '$.f')), 0)))",
        );
    }
    let (total, where_clause) = if conditions.is_empty() {
        (
            format!("(SELECT n FROM {counts} WHERE id = 1)"),
            String::new(),
        )
    } else {
        let conditions = conditions.join(" AND ");
        (
            format!("(SELECT count(*) FROM {table} AS t WHERE {conditions})"),
            format!("WHERE {conditions}"),
        )
    };
    let page_columns = COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let field = query.ordering.field;
    let descending = query.ordering.descending;
    let inner_order = order_by(field, descending, "t.");
    let outer_order = order_by(field, descending, "p.");
    format!(
        "SELECT {total} AS total, {page_columns} \
         FROM (SELECT 1) AS one \
         LEFT JOIN (SELECT {COLUMNS} FROM {table} AS t {where_clause} \
                    ORDER BY {inner_order} LIMIT ?6 OFFSET ?7) AS p ON 1 \
         ORDER BY {outer_order}"
    )
}

/// One search word's slot parameters.
#[derive(Debug, PartialEq)]
pub(crate) struct Slot {
    /// Its LIKE pattern; `None` when no text can hold it.
    pub(crate) pattern: Option<String>,
    /// The pattern again when the word could be in an expiry text.
    pub(crate) expiry: Option<String>,
    /// Its creators and flows, JSON arrays of ids.
    pub(crate) creators: String,
    pub(crate) flows: String,
}

/// The parameters of a list statement.
#[derive(Debug, PartialEq)]
pub(crate) struct Params {
    pub(crate) name: Option<String>,
    pub(crate) creators: Option<String>,
    pub(crate) expires: Option<i64>,
    pub(crate) flows: Option<String>,
    /// The words past [`SEARCH_SLOTS`], as one JSON array.
    pub(crate) rest: Option<String>,
    /// The words with a slot each, cheapest first.
    pub(crate) slots: Vec<Slot>,
    pub(crate) limit: i64,
    pub(crate) offset: i64,
}

/// The list statement `sql` with `params` bound.
pub(crate) fn bind(sql: &str, params: Params) -> Query<'_> {
    let mut statement = query(sql)
        .bind(params.name)
        .bind(params.creators)
        .bind(params.expires)
        .bind(params.flows)
        .bind(params.rest)
        .bind(params.limit)
        .bind(params.offset);
    for slot in params.slots {
        statement = statement
            .bind(slot.pattern)
            .bind(slot.expiry)
            .bind(slot.creators)
            .bind(slot.flows);
    }
    statement
}

/// The parameters for `query`, or `None` when no row can match (an expiry
/// filter finer than the microseconds stored).
pub(crate) fn params(query: &ListQuery) -> Option<Params> {
    let filters = &query.filters;
    if filters
        .expires
        .is_some_and(|e| e.timestamp_subsec_nanos() % 1000 != 0)
    {
        return None;
    }
    let creators = filters
        .created_by
        .as_ref()
        .map(|ids| json!(ids.iter().map(|u| u.get()).collect::<Vec<_>>()).to_string());
    let flows = filters.flow.as_ref().map(|ids| {
        json!(ids
            .iter()
            .map(|f| uuid_text(f.as_uuid()))
            .collect::<Vec<_>>())
        .to_string()
    });
    // Each word once: a repeat matches the same rows, adding only work.
    let mut terms: Vec<&SearchTerm> = Vec::with_capacity(query.search.len());
    for term in &query.search {
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    // Words that need no expiry text first, longer (rarer) ones first:
    // SQLite tests the conditions in the order written and stops at the
    // first that fails.
    terms.sort_by_key(|term| {
        (
            term.could_match_expiry_text(),
            std::cmp::Reverse(term.text.len()),
        )
    });
    let rest_terms = terms.split_off(terms.len().min(SEARCH_SLOTS));
    let ids = |term: &SearchTerm| {
        (
            json!(term.creators.iter().map(|u| u.get()).collect::<Vec<_>>()).to_string(),
            json!(term
                .flows
                .iter()
                .map(|f| uuid_text(f.as_uuid()))
                .collect::<Vec<_>>())
            .to_string(),
        )
    };
    let slots = terms
        .into_iter()
        .map(|term| {
            let pattern = search_pattern(&term.text);
            let (creators, flows) = ids(term);
            Slot {
                expiry: pattern.clone().filter(|_| term.could_match_expiry_text()),
                pattern,
                creators,
                flows,
            }
        })
        .collect();
    let rest = (!rest_terms.is_empty()).then(|| {
        let words: Vec<_> = rest_terms
            .iter()
            .map(|term| {
                json!({
                    "p": search_pattern(&term.text),
                    "c": term.creators.iter().map(|u| u.get()).collect::<Vec<_>>(),
                    "f": term.flows.iter().map(|f| uuid_text(f.as_uuid())).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::Value::Array(words).to_string()
    });
    Some(Params {
        name: filters.name.clone(),
        creators,
        expires: filters.expires.map(|e| e.timestamp_micros()),
        flows,
        rest,
        slots,
        limit: i64::try_from(query.limit).unwrap_or(i64::MAX),
        offset: i64::try_from(query.offset).unwrap_or(i64::MAX),
    })
}

/// The LIKE pattern for a search word, or `None` when it holds NUL: SQLite
/// reads a pattern as a C string, so NUL would cut it short and match more
/// than the word; no name or expiry text holds NUL. (SQLite's LIKE folds
/// ASCII letters only, as the reference does, so other characters need no
/// care.)
fn search_pattern(text: &str) -> Option<String> {
    (!text.contains('\0')).then(|| like_contains_pattern(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use invitation_core::{Filters, Ordering, SearchTerm};

    fn query() -> ListQuery {
        ListQuery {
            filters: Filters::default(),
            search: Vec::new(),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 20,
        }
    }

    #[test]
    fn wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(search_pattern("a\0"), None);
    }

    #[test]
    fn the_default_order_puts_never_expiring_rows_first_and_breaks_ties_by_id() {
        let sql = statement("t", "c", &query(), 0, false);
        assert!(
            sql.ends_with("ORDER BY (p.expires IS NULL) DESC, p.expires DESC, p.id ASC"),
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
        assert!(statement("t", "c", &q, 0, false).ends_with("ORDER BY p.id DESC"));
    }

    #[test]
    fn only_the_filters_given_are_in_the_text_and_without_any_the_total_is_the_row_count() {
        let unfiltered = statement("t", "c", &query(), 0, false);
        assert!(
            unfiltered.contains("(SELECT n FROM c WHERE id = 1)"),
            "{unfiltered}"
        );
        assert!(
            !unfiltered.contains("?1") && !unfiltered.contains("?5"),
            "{unfiltered}"
        );
        let mut q = query();
        q.filters.name = Some("x".to_owned());
        let named = statement("t", "c", &q, 0, false);
        assert!(named.contains("WHERE t.name = ?1 ORDER BY"), "{named}");
        assert!(
            !named.contains("?2") && !named.contains("FROM c "),
            "{named}"
        );
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
        let params = params(&q).expect("params");
        assert_eq!(params.name.as_deref(), Some("'; DROP TABLE x; --"));
        for field in SortField::ALL {
            q.ordering.field = field;
            assert!(!statement("t", "c", &q, 0, false).contains("DROP"));
        }
    }

    #[test]
    fn an_expiry_filter_finer_than_microseconds_matches_nothing_without_a_query() {
        let mut q = query();
        q.filters.expires = chrono::DateTime::from_timestamp(0, 1);
        assert_eq!(params(&q), None);
    }
}
