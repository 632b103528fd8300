//! `ListQuery` in SQLite: one statement per ordering (twelve texts in
//! all), whose filters and search words are parameters. The search words
//! go in as one JSON array that the statement walks with `json_each`, so
//! the number of words never adds a statement text (and a cached prepared
//! statement), and no value is ever written into the SQL.

use invitation_core::{ListQuery, SortField};
use serde_json::json;

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

/// The list statement for one ordering. Parameters: ?1 the name filter,
/// ?2 the creators filter (a JSON array of ids), ?3 the expiry filter
/// (microseconds), ?4 the flows filter (a JSON array of ids), each NULL
/// when not set; ?5 the search words (see [`Params::words`]) or NULL;
/// ?6 limit, ?7 offset.
///
/// One statement, so the count and the page come from one snapshot; the
/// count is one row even past the last page (the page's side of the outer
/// join is then NULL).
pub(crate) fn statement(table: &str, field: SortField, descending: bool) -> String {
    // Each word must match: its pattern in the name or the expiry text
    // (LIKE ignores ASCII case only, as the reference; `\` escapes), or
    // the creator or flow among its ids. COALESCE: a NULL pattern (a word
    // no text can hold) or a NULL expiry or flow is "no match", never an
    // unknown that would keep the row.
    let conditions = "(?1 IS NULL OR t.name = ?1) \
         AND (?2 IS NULL OR t.created_by IN (SELECT value FROM json_each(?2))) \
         AND (?3 IS NULL OR t.expires = ?3) \
         AND (?4 IS NULL OR t.flow IN (SELECT value FROM json_each(?4))) \
         AND (?5 IS NULL OR NOT EXISTS ( \
               SELECT 1 FROM json_each(?5) AS w \
                WHERE NOT ( \
                      COALESCE(t.name LIKE json_extract(w.value, '$.p') ESCAPE '\\', 0) \
                   OR COALESCE(t.expires_text LIKE json_extract(w.value, '$.p') ESCAPE '\\', 0) \
                   OR t.created_by IN (SELECT value FROM json_each(w.value, '$.c')) \
                   OR COALESCE(t.flow IN (SELECT value FROM json_each(w.value, '$.f')), 0))))";
    let page_columns = COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let inner_order = order_by(field, descending, "t.");
    let outer_order = order_by(field, descending, "p.");
    format!(
        "SELECT (SELECT count(*) FROM {table} AS t WHERE {conditions}) AS total, {page_columns} \
         FROM (SELECT 1) AS one \
         LEFT JOIN (SELECT {COLUMNS} FROM {table} AS t WHERE {conditions} \
                    ORDER BY {inner_order} LIMIT ?6 OFFSET ?7) AS p ON 1 \
         ORDER BY {outer_order}"
    )
}

/// The index of `query`'s statement in `Statements::list`.
pub(crate) fn statement_index(query: &ListQuery) -> usize {
    let field = SortField::ALL
        .iter()
        .position(|f| *f == query.ordering.field)
        .unwrap_or(0);
    field * 2 + usize::from(query.ordering.descending)
}

/// The parameters of a list statement.
#[derive(Debug, PartialEq)]
pub(crate) struct Params {
    pub(crate) name: Option<String>,
    pub(crate) creators: Option<String>,
    pub(crate) expires: Option<i64>,
    pub(crate) flows: Option<String>,
    pub(crate) words: Option<String>,
    pub(crate) limit: i64,
    pub(crate) offset: i64,
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
            .map(|f| f.as_uuid().to_string())
            .collect::<Vec<_>>())
        .to_string()
    });
    let words = (!query.search.is_empty()).then(|| {
        let words: Vec<_> = query
            .search
            .iter()
            .map(|term| {
                json!({
                    "p": search_pattern(&term.text),
                    "c": term.creators.iter().map(|u| u.get()).collect::<Vec<_>>(),
                    "f": term.flows.iter().map(|f| f.as_uuid().to_string()).collect::<Vec<_>>(),
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
        words,
        limit: i64::try_from(query.limit).unwrap_or(i64::MAX),
        offset: i64::try_from(query.offset).unwrap_or(i64::MAX),
    })
}

/// `text` as a LIKE pattern matching it anywhere, with `%`, `_` and `\`
/// taken literally (escaped by `\`, the statement's `ESCAPE`).
pub(crate) fn contains_pattern(text: &str) -> String {
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

/// The LIKE pattern for a search word, or `None` when it holds NUL: SQLite
/// reads a pattern as a C string, so NUL would cut it short and match more
/// than the word; no name or expiry text holds NUL. (SQLite's LIKE folds
/// ASCII letters only, as the reference does, so other characters need no
/// care.)
fn search_pattern(text: &str) -> Option<String> {
    (!text.contains('\0')).then(|| contains_pattern(text))
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
        assert_eq!(contains_pattern(r"a%b_c\d"), r"%a\%b\_c\\d%");
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(search_pattern("a\0"), None);
    }

    #[test]
    fn the_default_order_puts_never_expiring_rows_first_and_breaks_ties_by_id() {
        let sql = statement("t", SortField::Expires, true);
        assert!(
            sql.ends_with("ORDER BY p.expires DESC NULLS FIRST, p.id ASC"),
            "{sql}"
        );
        assert_eq!(statement_index(&query()), 5);
    }

    #[test]
    fn ordering_by_pk_descending_reverses_the_id_itself() {
        assert!(statement("t", SortField::Pk, true).ends_with("ORDER BY p.id DESC"));
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
            assert!(!statement("t", field, false).contains("DROP"));
        }
    }

    #[test]
    fn an_expiry_filter_finer_than_microseconds_matches_nothing_without_a_query() {
        let mut q = query();
        q.filters.expires = chrono::DateTime::from_timestamp(0, 1);
        assert_eq!(params(&q), None);
    }
}
