//! A time limit on the list statement, the one SQLite statement whose work
//! grows with the table (a search tests every row). SQLite has no
//! statement timeout; its progress handler, called every [`OPS`] virtual
//! machine instructions, interrupts the statement (`SQLITE_INTERRUPT`)
//! once the limit has passed.
//!
//! On a connection of the pool the statement runs in a task of its own
//! that owns the connection: when the caller's future is dropped (a client
//! gone), the task interrupts the statement at once and removes the handler
//! before the connection goes back to the pool, so no statement of anyone
//! else ever meets it. On the host's connection (inside its transaction)
//! the statement runs in the caller's future; if that is dropped, the
//! handler is left on the host's connection, but does nothing any more.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use invitation_core::StoreError;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Sqlite, SqlitePool};

use super::list::{bind, Params};
use crate::error::store_error;
use crate::target::Target;

/// Virtual machine instructions between two looks at the clock (a few
/// tens of microseconds of work).
const OPS: i32 = 1_000;

/// The statement runs, within its limit.
const RUNNING: u8 = 0;
/// Its caller is gone: interrupt it now.
const ABANDONED: u8 = 1;
/// It is over, or its caller is gone and the connection is the host's:
/// the handler lets everything run.
const OVER: u8 = 2;

/// Why the list statement stopped before its end.
#[derive(Debug, thiserror::Error)]
#[error("the list statement ran past its time limit of {limit:?} and was interrupted")]
struct ListTimedOut {
    limit: Duration,
    #[source]
    source: sqlx::Error,
}

/// Moves the state from [`RUNNING`] to `on_drop` when the caller's future
/// is dropped before the statement is over.
struct Caller {
    state: Arc<AtomicU8>,
    on_drop: u8,
}

impl Drop for Caller {
    fn drop(&mut self) {
        let _ =
            self.state
                .compare_exchange(RUNNING, self.on_drop, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Runs the list statement `sql` with `params` on `target` and reads all
/// its rows, interrupting it once `limit` has passed (`None`: no limit, and
/// the connection's progress handler is left alone).
pub(crate) async fn fetch_list(
    target: &Target<'_, '_, Sqlite>,
    limit: Option<Duration>,
    sql: String,
    params: Params,
) -> Result<Vec<SqliteRow>, StoreError> {
    let Some(limit) = limit else {
        return target
            .fetch_all(bind(&sql, params))
            .await
            .map_err(store_error);
    };
    let state = Arc::new(AtomicU8::new(RUNNING));
    let answer = match target {
        Target::Pool(pool) => {
            let _caller = Caller {
                state: Arc::clone(&state),
                on_drop: ABANDONED,
            };
            let pool = SqlitePool::clone(pool);
            let state = Arc::clone(&state);
            let task = tokio::spawn(async move {
                let mut connection = pool.acquire().await?;
                if state.load(Ordering::Acquire) == ABANDONED {
                    // Nobody waits for the rows any more.
                    return Ok(Vec::new());
                }
                run(&mut connection, limit, &state, &sql, params).await
            });
            match task.await {
                Ok(answer) => answer,
                Err(failed) => {
                    return Err(StoreError::Backend(
                        format!("the list task failed: {failed}").into(),
                    ))
                }
            }
        }
        Target::Connection(connection) => {
            let mut connection = connection.lock().await;
            let _caller = Caller {
                state: Arc::clone(&state),
                on_drop: OVER,
            };
            run(&mut connection, limit, &state, &sql, params).await
        }
    };
    answer.map_err(|error| {
        if is_interrupt(&error) {
            StoreError::Unavailable(Box::new(ListTimedOut {
                limit,
                source: error,
            }))
        } else {
            store_error(error)
        }
    })
}

/// Runs the statement on `connection` with the progress handler set, and
/// removes the handler after. The limit counts from here: waiting for the
/// connection does not count.
async fn run(
    connection: &mut SqliteConnection,
    limit: Duration,
    state: &Arc<AtomicU8>,
    sql: &str,
    params: Params,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    // No instant that far: no limit.
    let deadline = Instant::now().checked_add(limit);
    let seen = Arc::clone(state);
    connection
        .lock_handle()
        .await?
        .set_progress_handler(OPS, move || match seen.load(Ordering::Acquire) {
            RUNNING => deadline.is_none_or(|deadline| Instant::now() < deadline),
            ABANDONED => false,
            _ => true,
        });
    let rows = bind(sql, params).fetch_all(&mut *connection).await;
    state.store(OVER, Ordering::Release);
    // Should this fail, the connection's worker is gone and the connection
    // with it; the handler left does nothing now in any case.
    if let Ok(mut handle) = connection.lock_handle().await {
        handle.remove_progress_handler();
    }
    rows
}

/// Whether SQLite answered `SQLITE_INTERRUPT`.
fn is_interrupt(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().and_then(|code| code.parse::<i32>().ok()) == Some(SQLITE_INTERRUPT))
}

/// SQLite's result code for an interrupted statement.
const SQLITE_INTERRUPT: i32 = 9;
