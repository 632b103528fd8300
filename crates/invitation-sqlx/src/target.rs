//! Where a store's statements run, for every backend: on a connection of
//! the pool ([`SqlxStore`](crate::SqlxStore)), or on the host's connection
//! inside its transaction ([`SqlxTransactionStore`](crate::SqlxTransactionStore)).

use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments, Pool};
use tokio::sync::Mutex;

use crate::{Backend, SqlxStore, SqlxTransactionStore};

/// A statement of `DB` with its bound values.
pub(crate) type Statement<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Where a session's statements run.
pub(crate) enum Target<'a, 't, DB: Database> {
    Pool(&'a Pool<DB>),
    Connection(&'a Mutex<&'t mut DB::Connection>),
}

impl<DB> Target<'_, '_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
{
    pub(crate) async fn fetch_all(
        &self,
        query: Statement<'_, DB>,
    ) -> Result<Vec<DB::Row>, sqlx::Error> {
        match self {
            Self::Pool(pool) => query.fetch_all(*pool).await,
            Self::Connection(connection) => {
                let mut connection = connection.lock().await;
                query.fetch_all(&mut **connection).await
            }
        }
    }

    pub(crate) async fn fetch_optional(
        &self,
        query: Statement<'_, DB>,
    ) -> Result<Option<DB::Row>, sqlx::Error> {
        match self {
            Self::Pool(pool) => query.fetch_optional(*pool).await,
            Self::Connection(connection) => {
                let mut connection = connection.lock().await;
                query.fetch_optional(&mut **connection).await
            }
        }
    }

    pub(crate) async fn execute(
        &self,
        query: Statement<'_, DB>,
    ) -> Result<DB::QueryResult, sqlx::Error> {
        match self {
            Self::Pool(pool) => query.execute(*pool).await,
            Self::Connection(connection) => {
                let mut connection = connection.lock().await;
                query.execute(&mut **connection).await
            }
        }
    }
}

/// A store's statements and where they run: each backend writes its
/// operations once, on a session, for the store and its transaction-scoped
/// form.
pub(crate) struct Session<'a, 't, DB: Backend> {
    pub(crate) sql: &'a DB::Statements,
    pub(crate) target: Target<'a, 't, DB>,
}

impl<DB: Backend> SqlxStore<DB> {
    pub(crate) fn session(&self) -> Session<'_, 'static, DB> {
        Session {
            sql: self.statements(),
            target: Target::Pool(&self.pool),
        }
    }
}

impl<'t, DB: Backend> SqlxTransactionStore<'t, DB> {
    pub(crate) fn session(&self) -> Session<'_, 't, DB> {
        Session {
            sql: self.store.statements(),
            target: Target::Connection(&self.connection),
        }
    }
}
