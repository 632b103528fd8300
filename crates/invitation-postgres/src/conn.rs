//! Running one statement, on a pooled connection (with a cancel if the
//! caller goes away mid-statement, and the adapter's retries) or in a
//! transaction the host owns (as it is).
//!
//! - **Cancellation.** While a statement is in flight on a pooled
//!   connection, the connection sits in a [`Busy`] guard. If the call's
//!   future is dropped (the client went away, a request timeout fired), the
//!   guard's `Drop` detaches the connection from the pool (`Object::take`:
//!   the pool may open a fresh one in its place) and spawns a task that
//!   sends PostgreSQL a cancel request for the running statement and then
//!   closes the connection. So no later caller is handed a connection whose
//!   backend is still busy, and the backend stops working for nobody.
//! - **Retries.** On a pooled connection every operation is one statement
//!   in its own implicit transaction. A serialization failure (40001) or
//!   deadlock (40P01) means the server rolled that statement back whole, so
//!   running it again is safe for every operation, writes included: each is
//!   retried once, and a second failure is `StoreError::Unavailable`.
//!   "Cached plan must not change result type" (0A000, after a schema
//!   change under a prepared statement) clears the connection's statement
//!   cache and retries once.
//! - **The host's transaction.** There the statement is sent once, with the
//!   transaction's own `prepare` (or as an unnamed statement), and nothing
//!   else happens: an error aborts the host's whole transaction, so only
//!   the host can retry (its whole transaction), and the connection is the
//!   host's to cancel or close.

use deadpool_postgres::{Object, Pool, PoolError, StatementCache};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row, Statement, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::is_transient_conflict;

/// Where a store's statements run.
#[derive(Clone, Copy)]
pub(crate) enum Executor<'a> {
    /// One pooled connection per statement, with the cancel guard and the
    /// retries.
    Pool {
        pool: &'a Pool,
        /// What cancel requests go through; without TLS when `None`.
        cancel_tls: Option<&'a MakeRustlsConnect>,
    },
    /// The host's open transaction: each statement once, as it is.
    Transaction(&'a Transaction<'a>),
}

/// How a statement is sent.
#[derive(Clone, Copy)]
pub(crate) enum Call<'a> {
    /// Prepared once per connection (the pool's statement cache), rows back.
    Query,
    /// Prepared once per connection, the number of rows changed back.
    Execute,
    /// As an unnamed statement with these parameter types, in one round
    /// trip: planned for the values at hand every time, and nothing is kept
    /// on the server afterwards.
    Unnamed(&'a [Type]),
}

/// What a statement answered.
pub(crate) enum Answer {
    Rows(Vec<Row>),
    Count(u64),
}

impl Answer {
    pub(crate) fn rows(self) -> Vec<Row> {
        match self {
            Self::Rows(rows) => rows,
            Self::Count(_) => Vec::new(),
        }
    }

    pub(crate) fn count(self) -> u64 {
        match self {
            Self::Rows(rows) => rows.len() as u64,
            Self::Count(n) => n,
        }
    }
}

/// Why a statement failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be had.
    Pool(PoolError),
    /// The statement failed (after the retries it is allowed).
    Statement(tokio_postgres::Error),
}

/// A pooled connection with a statement in flight.
struct Busy<'a> {
    client: Option<Object>,
    cancel_tls: Option<&'a MakeRustlsConnect>,
}

impl Busy<'_> {
    /// The statement ended (either way): the connection goes back to the
    /// pool when the returned object is dropped.
    fn done(mut self) -> Option<Object> {
        self.client.take()
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let Some(object) = self.client.take() else {
            return;
        };
        // Dropped mid-statement: cancel it, and keep the connection out of
        // the pool until it is closed.
        let token = object.cancel_token();
        let client = Object::take(object);
        let tls = self.cancel_tls.cloned();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    // Nothing to report to: the caller is gone. Closing the
                    // connection afterwards ends the backend either way.
                    let _ = match tls {
                        Some(tls) => token.cancel_query(tls).await,
                        None => token.cancel_query(tokio_postgres::NoTls).await,
                    };
                    drop(client);
                });
            }
            // No runtime to cancel from: closing the connection is all we
            // can do (statement_timeout still bounds the statement).
            Err(_) => drop(client),
        }
    }
}

async fn send<C: GenericClient + Sync>(
    client: &C,
    cache: Option<&StatementCache>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    call: Call<'_>,
) -> Result<Answer, tokio_postgres::Error> {
    match call {
        Call::Query => {
            let statement = prepare(client, cache, sql).await?;
            client.query(&statement, params).await.map(Answer::Rows)
        }
        Call::Execute => {
            let statement = prepare(client, cache, sql).await?;
            client.execute(&statement, params).await.map(Answer::Count)
        }
        Call::Unnamed(types) => {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                params.iter().copied().zip(types.iter().cloned()).collect();
            client.query_typed(sql, &typed).await.map(Answer::Rows)
        }
    }
}

/// `sql` prepared on `client`: from the connection's statement cache when
/// there is one, otherwise anew (closed on the server when dropped).
async fn prepare<C: GenericClient + Sync>(
    client: &C,
    cache: Option<&StatementCache>,
    sql: &str,
) -> Result<Statement, tokio_postgres::Error> {
    match cache {
        Some(cache) => cache.prepare(client.client(), sql).await,
        None => client.prepare(sql).await,
    }
}

impl Executor<'_> {
    /// Runs one statement, with the rules of where it runs (see the module
    /// docs).
    pub(crate) async fn call(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        call: Call<'_>,
    ) -> Result<Answer, Failure> {
        match *self {
            Self::Pool { pool, cancel_tls } => on_pool(pool, cancel_tls, sql, params, call).await,
            Self::Transaction(transaction) => send(transaction, None, sql, params, call)
                .await
                .map_err(Failure::Statement),
        }
    }
}

/// Runs one statement on a pooled connection, cancelled if the caller goes
/// away, retried on the errors the module docs name.
async fn on_pool(
    pool: &Pool,
    cancel_tls: Option<&MakeRustlsConnect>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    call: Call<'_>,
) -> Result<Answer, Failure> {
    let mut retried = false;
    loop {
        let client = pool.get().await.map_err(Failure::Pool)?;
        let busy = Busy {
            client: Some(client),
            cancel_tls,
        };
        let Some(client) = busy.client.as_ref() else {
            // Set just above; only `done` takes it.
            continue;
        };
        let result = send(&***client, Some(&client.statement_cache), sql, params, call).await;
        let client = busy.done();
        let error = match result {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        match error.code() {
            Some(code) if !retried && is_transient_conflict(code) => retried = true,
            Some(code) if !retried && *code == SqlState::FEATURE_NOT_SUPPORTED => {
                if let Some(client) = &client {
                    client.statement_cache.clear();
                }
                retried = true;
            }
            _ => return Err(Failure::Statement(error)),
        }
    }
}
