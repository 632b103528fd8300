//! [`PgStore::migrate`](crate::PgStore::migrate): the migrations and the
//! procedure of `invitation_postgres_sql::migrations` (the one both
//! PostgreSQL adapters run), over a connection taken out of the pool.

use std::time::Duration;

use deadpool_postgres::{Object, Pool, PoolError};
use invitation_postgres_sql::migrations::{self, BoxFuture, Connection, MigrateError};
use invitation_postgres_sql::Schema;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::{tls_refusal, PgError};

/// A pool error, with a refused TLS certificate told apart.
fn checkout_error(error: PoolError) -> PgError {
    match &error {
        PoolError::Backend(e) if tls_refusal(e).is_some() => PgError::Certificate(error),
        _ => PgError::Pool(error),
    }
}

/// The migration procedure's connection: statements sent as simple
/// queries, their answers read as text.
struct Migrator<'a>(&'a Client);

impl Connection for Migrator<'_> {
    type Error = tokio_postgres::Error;

    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Self::Error>> {
        Box::pin(self.0.batch_execute(sql))
    }

    fn texts<'a>(
        &'a mut self,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, Self::Error>> {
        Box::pin(async move {
            let messages = self.0.simple_query(sql).await?;
            Ok(messages
                .iter()
                .filter_map(|message| match message {
                    SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
                    _ => None,
                })
                .collect())
        })
    }

    fn is_lock_timeout(error: &Self::Error) -> bool {
        error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
    }
}

pub(crate) async fn run(
    pool: &Pool,
    schema: &Schema,
    lock_timeout: Duration,
    budget: Duration,
) -> Result<(), PgError> {
    // A connection of its own, out of the pool: its session settings
    // (no statement_timeout for index builds) never reach another caller,
    // and it closes when migrate() returns.
    let client = Object::take(pool.get().await.map_err(checkout_error)?);
    migrations::run(&mut Migrator(&client), schema, lock_timeout, budget)
        .await
        .map_err(|error| match error {
            MigrateError::Migration {
                version,
                description,
                source,
            } => PgError::Migration {
                version,
                description,
                source,
            },
            MigrateError::LockTimeout { waited, source } => PgError::LockTimeout { waited, source },
            MigrateError::Database(source) => PgError::Database(source),
        })
}
