//! A [`ListQuery`] as the statement `invitation_postgres_sql::list::plan`
//! makes of it, with its parameters as tokio-postgres takes them.
//!
//! The unfiltered list (one text per ordering) is prepared once per
//! connection like the fixed statements; a filtered or searching one is
//! sent as an unnamed statement with its parameters' types in one round
//! trip (`query_typed`), planned for the values at hand every time.

use chrono::{DateTime, Utc};
use invitation_core::ListQuery;
use invitation_postgres_sql::list::{plan as plan_sql, Param, Plan as SqlPlan};
use invitation_postgres_sql::Statements;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// The statements a store prepares on one connection: the nine fixed ones
/// of the invitations (insert, get, replace, delete, redeem, purge, unbind,
/// delete by creator, ping), the four of the mail outbox (enqueue, claim,
/// record, purge) and the unfiltered list in each of its 12 orderings. A
/// filtered or searching list is an unnamed statement and adds none.
pub const MAX_PREPARED_STATEMENTS: usize = 9 + 4 + 12;

/// A statement and its parameters.
pub(crate) struct ListStatement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Box<dyn ToSql + Sync + Send>>,
    /// `Some` for the unnamed statement: its parameters' types.
    pub(crate) types: Option<Vec<Type>>,
}

impl ListStatement {
    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// What a list call needs to do.
pub(crate) enum Plan {
    /// Nothing can match.
    Empty,
    /// Run this.
    Query(ListStatement),
}

/// A parameter as tokio-postgres binds it, and its type.
fn bound(param: Param) -> (Box<dyn ToSql + Sync + Send>, Type) {
    match param {
        Param::Text(v) => (Box::new(v), Type::TEXT),
        Param::TextArray(v) => (Box::new(v), Type::TEXT_ARRAY),
        Param::Int4Array(v) => (Box::new(v), Type::INT4_ARRAY),
        Param::Int8(v) => (Box::new(v), Type::INT8),
        Param::Int8Array(v) => (Box::new(v), Type::INT8_ARRAY),
        Param::Timestamptz(v) => (Box::new(v as Option<DateTime<Utc>>), Type::TIMESTAMPTZ),
        Param::UuidArray(v) => (Box::new(v as Option<Vec<Uuid>>), Type::UUID_ARRAY),
    }
}

/// Plans the statement for `query`.
pub(crate) fn plan(sql: &Statements, query: &ListQuery) -> Plan {
    let statement = match plan_sql(sql, query) {
        SqlPlan::Empty => return Plan::Empty,
        SqlPlan::Query(statement) => statement,
    };
    let (params, types): (Vec<_>, Vec<_>) = statement.params.into_iter().map(bound).unzip();
    Plan::Query(ListStatement {
        sql: statement.sql,
        params,
        types: statement.unnamed.then_some(types),
    })
}
