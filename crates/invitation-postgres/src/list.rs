//! [`ListQuery`] as one SQL statement.
//!
//! The statement returns the total and the page together, from one snapshot:
//!
//! ```sql
//! SELECT c.total, p.* FROM (SELECT count(*) AS total FROM t WHERE <where>) AS c
//! LEFT JOIN (SELECT <columns> FROM t WHERE <where> ORDER BY <order>
//!            LIMIT $l OFFSET $o) AS p ON true
//! ORDER BY <order>
//! ```
//!
//! so an empty page (offset past the end, `limit` 0, nothing matching) is
//! one row holding the total and NULLs. Unlike `count(*) OVER ()`, the page
//! is read through an index with its LIMIT, and the count never fetches the
//! rows' other columns.
//!
//! Every value is a bound parameter; only the shape (which filters, how many
//! search words, the ordering) is in the text, so the statement cache holds
//! a bounded set of shapes.

use std::fmt::Write as _;

use invitation_core::{ListQuery, SortField};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::schema::{Statements, COLUMNS};

/// A statement and its parameters.
pub(crate) struct ListStatement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl ListStatement {
    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Why a query cannot be written as SQL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unsupported {
    /// A sort field this adapter does not know (the enum is non-exhaustive).
    #[error("ordering by {0:?} is not supported by the PostgreSQL adapter")]
    Ordering(SortField),
}

/// What a list call needs to do.
pub(crate) enum Plan {
    /// Nothing can match (a name filter holding NUL, which PostgreSQL text
    /// cannot hold and no stored name contains; an expiry filter finer than
    /// the microseconds every stored expiry is cut to).
    Empty,
    /// Run this.
    Query(ListStatement),
}

struct Builder {
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Builder {
    /// Adds a parameter and returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }
}

/// `text` as an ILIKE pattern matching it anywhere, with `%`, `_` and `\`
/// taken literally (`\` is ILIKE's default escape character).
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

/// The ILIKE pattern for a search word, or `None` when the word cannot be
/// found in any name or expiry text. Names and expiry texts are ASCII, and
/// the reference ignores ASCII case only, so a word with a non-ASCII
/// character never matches them there; leaving such words out of ILIKE keeps
/// the database locale's Unicode case folding (e.g. the Kelvin sign folding
/// to `k`) from matching more than the reference. NUL cannot be sent at all.
fn search_pattern(text: &str) -> Option<String> {
    if text.bytes().all(|b| b.is_ascii() && b != 0) {
        Some(contains_pattern(text))
    } else {
        None
    }
}

fn order_by(field: SortField, descending: bool, prefix: &str) -> Result<String, Unsupported> {
    let column = match field {
        SortField::Pk => {
            let direction = if descending { "DESC" } else { "ASC" };
            return Ok(format!("{prefix}id {direction}"));
        }
        // The column is COLLATE "C": byte order.
        SortField::Name => "name",
        SortField::Expires => "expires",
        SortField::SingleUse => "single_use",
        SortField::Flow => "flow",
        SortField::CreatedBy => "created_by",
        other => return Err(Unsupported::Ordering(other)),
    };
    // NULLs after every value ascending, before every value descending (the
    // reference's `None` sorts greatest); ties by id ascending.
    let direction = if descending {
        "DESC NULLS FIRST"
    } else {
        "ASC NULLS LAST"
    };
    Ok(format!("{prefix}{column} {direction}, {prefix}id ASC"))
}

/// Plans the statement for `query`.
pub(crate) fn plan(sql: &Statements, query: &ListQuery) -> Result<Plan, Unsupported> {
    let mut b = Builder { params: Vec::new() };
    let mut conditions: Vec<String> = Vec::new();

    let filters = &query.filters;
    if let Some(name) = &filters.name {
        if name.contains('\0') {
            return Ok(Plan::Empty);
        }
        let p = b.bind(name.clone());
        conditions.push(format!("name = {p}"));
    }
    if let Some(users) = &filters.created_by {
        let ids: Vec<i64> = users.iter().map(|u| u.get()).collect();
        let p = b.bind(ids);
        conditions.push(format!("created_by = ANY({p})"));
    }
    if let Some(expires) = filters.expires {
        // Stored expiries are whole microseconds; the driver would truncate
        // a finer instant and match a row the reference does not.
        if expires.timestamp_subsec_nanos() % 1000 != 0 {
            return Ok(Plan::Empty);
        }
        let p = b.bind(expires);
        conditions.push(format!("expires = {p}"));
    }
    if let Some(flows) = &filters.flow {
        let ids: Vec<Uuid> = flows.iter().map(|f| *f.as_uuid()).collect();
        let p = b.bind(ids);
        conditions.push(format!("flow = ANY({p})"));
    }
    for term in &query.search {
        // A NULL pattern makes both ILIKEs NULL, i.e. not a match, while
        // keeping one statement shape per number of words.
        let pattern = b.bind(search_pattern(&term.text));
        let creators: Vec<i64> = term.creators.iter().map(|u| u.get()).collect();
        let creators = b.bind(creators);
        let flows: Vec<Uuid> = term.flows.iter().map(|f| *f.as_uuid()).collect();
        let flows = b.bind(flows);
        conditions.push(format!(
            "(name ILIKE {pattern} OR {expires_text}(expires) ILIKE {pattern} \
             OR created_by = ANY({creators}) OR flow = ANY({flows}))",
            expires_text = sql.expires_text,
        ));
    }

    let unfiltered = conditions.is_empty();
    let where_clause = if unfiltered {
        "true".to_owned()
    } else {
        conditions.join(" AND ")
    };
    let limit = b.bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    let offset = b.bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
    let inner_order = order_by(query.ordering.field, query.ordering.descending, "")?;
    let outer_order = order_by(query.ordering.field, query.ordering.descending, "p.")?;
    let table = &sql.table;
    let outer_columns = COLUMNS.split(", ").fold(String::new(), |mut acc, column| {
        let _ = write!(acc, ", p.{column}");
        acc
    });

    // Without filters the total is the table's row count, which migration
    // 0002 keeps exactly in 64 counters: no scan of the table.
    let count = if unfiltered {
        format!("SELECT sum(n)::bigint AS total FROM {}", sql.counts)
    } else {
        format!("SELECT count(*) AS total FROM {table} WHERE {where_clause}")
    };
    let text = format!(
        "SELECT c.total{outer_columns} \
         FROM ({count}) AS c \
         LEFT JOIN (SELECT {COLUMNS} FROM {table} WHERE {where_clause} \
                    ORDER BY {inner_order} LIMIT {limit} OFFSET {offset}) AS p ON true \
         ORDER BY {outer_order}"
    );
    Ok(Plan::Query(ListStatement {
        sql: text,
        params: b.params,
    }))
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
        let statements = Statements::new(Schema::default_schema());
        match plan(&statements, query).unwrap() {
            Plan::Query(s) => s.sql,
            Plan::Empty => String::from("<empty>"),
        }
    }

    #[test]
    fn wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(contains_pattern(r"a%b_c\d"), r"%a\%b\_c\\d%");
        assert_eq!(contains_pattern(""), "%%");
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
