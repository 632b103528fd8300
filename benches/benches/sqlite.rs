//! The SQLite adapter under load, beside a bare sqlx insert loop, in one
//! run.
//!
//! `cargo bench -p invitation-benches --bench sqlite`
//!
//! Two parts, each printing a table (no timing is asserted):
//!
//! - **create**: CreateInvitation through `InvitationService::create` on a
//!   `SqliteStore` (testkit directory and authorizer) at 1 and 16
//!   concurrent callers, beside a bare sqlx loop inserting the same row
//!   (the adapter's statement and values) into the same table on a pool
//!   with the same settings, interleaved round by round; creates/s, p50/p99
//!   latency and the ratio adapter/bare. Once with `synchronous = FULL`
//!   (`SqliteStore::open`, a server's settings) and once with `NORMAL` on
//!   both sides. Exits non-zero if a run's row count differs from the
//!   creates it counted.
//! - **list**: 1,000,000 rows loaded by batched `INSERT … SELECT` over a
//!   recursive CTE, then `ANALYZE`; the first page (20 rows) with the
//!   default ordering, with a `name` filter and with a search word, through
//!   `SqliteStore::list` and through the list use case: p50/p99 over 200
//!   runs each. Exits non-zero if a total or a page's length is not what
//!   the data set holds.
//!
//! Environment (all optional):
//! `INVITATION_BENCH_PARTS` (default `create,list`),
//! `INVITATION_BENCH_CLIENTS` (default `1,16`),
//! `INVITATION_BENCH_SECS` (seconds per load run, default 10),
//! `INVITATION_BENCH_ROUNDS` (load rounds per client count, default 3),
//! `INVITATION_BENCH_LIST_ROWS` (default 1000000),
//! `INVITATION_BENCH_LIST_RUNS` (default 200).
//!
//! The database files live in a fresh temporary directory, removed at the
//! end.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invitation_benches::adapter::{
    list_cases, run_main, service_on, time_list, timed_load, warm_up, BoxError, Comparison, Knobs,
    Load, LoadResult, NAMES, NAME_FILTER, PAGE, SEARCH_WORD,
};
use invitation_benches::{sample_data, CREATOR, SAMPLE_NAME};
use invitation_core::{IdGenerator, InvitationService, RandomIds};
use invitation_sqlx::sqlite::DEFAULT_POOL_SIZE;
use invitation_sqlx::sqlx::sqlite::{
    SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use invitation_sqlx::sqlx::{self, Row};
use invitation_sqlx::{SqliteStore, DEFAULT_PREFIX};

/// Tasks of the warm-up before each side's first load: more than the
/// pool's connections, so that each is opened and its statement prepared.
const WARM_UP_TASKS: usize = 2 * DEFAULT_POOL_SIZE as usize;
/// Rows per `INSERT … SELECT` (and transaction) of the list data set.
const LOAD_BATCH: u64 = 100_000;
/// 2026-01-01T00:00:00Z in microseconds: the list data's first expiry.
const EXPIRES_FROM: i64 = 1_767_225_600_000_000;

/// The adapter's invitations table (the default prefix).
fn table() -> String {
    format!("{DEFAULT_PREFIX}invitations")
}

/// Whether a commit waits for the WAL's fsync.
#[derive(Clone, Copy, Debug)]
enum Durability {
    /// `SqliteStore::connect_options`' (and `open`'s) setting.
    Full,
    Normal,
}

impl Durability {
    fn label(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }

    /// The adapter's connection settings for `path`, with this
    /// `synchronous`.
    fn options(self, path: &Path) -> SqliteConnectOptions {
        let options = SqliteStore::connect_options(path);
        match self {
            Self::Full => options,
            Self::Normal => options.synchronous(SqliteSynchronous::Normal),
        }
    }

    /// A pool as `SqliteStore::open` makes one, with this `synchronous`.
    async fn pool(self, path: &Path) -> Result<SqlitePool, BoxError> {
        Ok(SqlitePoolOptions::new()
            .max_connections(DEFAULT_POOL_SIZE)
            .connect_with(self.options(path))
            .await?)
    }

    /// The store on `path`, migrated: `SqliteStore::open` for `FULL` (a
    /// server's store), the same on a pool of this setting otherwise.
    async fn store(self, path: &Path) -> Result<SqliteStore, BoxError> {
        match self {
            Self::Full => Ok(SqliteStore::open(path).await?),
            Self::Normal => {
                let store = SqliteStore::new(self.pool(path).await?);
                store.migrate().await?;
                Ok(store)
            }
        }
    }
}

/// Runs one statement on `pool`.
async fn execute(pool: &SqlitePool, sql: &str) -> Result<(), BoxError> {
    sqlx::query(sql).execute(pool).await?;
    Ok(())
}

async fn count_rows(pool: &SqlitePool) -> Result<u64, BoxError> {
    let row = sqlx::query(&format!("SELECT count(*) FROM {}", table()))
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?)?)
}

/// Empties the table and folds the WAL back into the file, so that every
/// run starts from an empty table and an empty WAL.
async fn empty(pool: &SqlitePool) -> Result<(), BoxError> {
    execute(pool, &format!("DELETE FROM {}", table())).await?;
    execute(pool, "PRAGMA wal_checkpoint(TRUNCATE)").await
}

// ----------------------------------------------------------------- create

/// The statement the adapter inserts with (`SqliteStore`'s `insert`).
fn insert_sql() -> String {
    format!(
        "INSERT INTO {} (id, name, expires, fixed_data, single_use, flow, created_by, version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
        table()
    )
}

/// The bare side: the adapter's INSERT with the values it binds for
/// `sample_input()` (a fresh id from the same generator, as lowercase
/// hyphenated text), straight on a sqlx pool.
#[derive(Clone)]
struct BareInsert {
    pool: SqlitePool,
    sql: Arc<str>,
    fixed_data: Arc<str>,
}

impl BareInsert {
    fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            sql: insert_sql().into(),
            fixed_data: sample_data().to_string().into(),
        }
    }
}

impl Load for BareInsert {
    async fn once(&self) -> Result<(), BoxError> {
        let done = sqlx::query(&self.sql)
            .bind(RandomIds.new_id().to_string())
            .bind(SAMPLE_NAME)
            .bind(None::<i64>)
            .bind(&*self.fixed_data)
            .bind(true)
            .bind(None::<String>)
            .bind(CREATOR.get())
            .bind(1_i64)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() != 1 {
            return Err("the bare insert inserted no row".into());
        }
        Ok(())
    }
}

struct CreateRow {
    durability: Durability,
    clients: usize,
    figures: Comparison,
}

/// One timed load on an emptied table; `Ok(None)` when the rows in the
/// table afterwards are not the calls it counted.
async fn counted_load<L: Load>(
    cfg: &Knobs,
    admin: &SqlitePool,
    clients: usize,
    load: &L,
) -> Result<Option<LoadResult>, BoxError> {
    empty(admin).await?;
    let result = timed_load(clients, Duration::from_secs(cfg.secs), load).await?;
    let rows = count_rows(admin).await?;
    if rows != result.latencies.len() as u64 {
        println!(
            "  {clients} clients: {rows} rows in the table after {} creates: MISMATCH",
            result.latencies.len()
        );
        return Ok(None);
    }
    Ok(Some(result))
}

/// Both sides at every client count, `cfg.rounds` rounds, on a fresh file
/// with `durability`; the rows, and whether every run's count was right.
async fn bench_create_on(
    cfg: &Knobs,
    dir: &Path,
    durability: Durability,
) -> Result<(Vec<CreateRow>, bool), BoxError> {
    let path = dir.join(format!("create-{}.db", durability.label().to_lowercase()));
    let store = durability.store(&path).await?;
    let service: InvitationService = service_on(Arc::new(store.clone()));
    let bare = BareInsert::new(durability.pool(&path).await?);
    warm_up(WARM_UP_TASKS, 3, &service).await?;
    warm_up(WARM_UP_TASKS, 3, &bare).await?;
    println!("synchronous = {}:", durability.label());
    let mut rows: Vec<CreateRow> = cfg
        .clients
        .iter()
        .map(|&clients| CreateRow {
            durability,
            clients,
            figures: Comparison::default(),
        })
        .collect();
    let mut ok = true;
    for round in 0..cfg.rounds {
        for row in &mut rows {
            // Alternate which side goes first, so drift hits both alike.
            let mut adapter = None;
            let mut bare_result = None;
            for side in 0..2 {
                if (side + round) % 2 == 1 {
                    adapter = counted_load(cfg, &bare.pool, row.clients, &service).await?;
                } else {
                    bare_result = counted_load(cfg, &bare.pool, row.clients, &bare).await?;
                }
            }
            let (Some(adapter), Some(bare_result)) = (adapter, bare_result) else {
                ok = false;
                continue;
            };
            println!(
                "  round {} clients {:>3}: {}",
                round + 1,
                row.clients,
                row.figures.record(adapter, Some(bare_result), "bare")
            );
        }
    }
    empty(&bare.pool).await?;
    store.pool().close().await;
    bare.pool.close().await;
    Ok((rows, ok))
}

async fn bench_create(cfg: &Knobs, dir: &Path) -> Result<bool, BoxError> {
    println!(
        "create: {} s per run, {} round(s), client counts {:?}, pools of {DEFAULT_POOL_SIZE} connections; bare statement:\n  {}",
        cfg.secs,
        cfg.rounds,
        cfg.clients,
        insert_sql()
    );
    let mut rows = Vec::new();
    let mut ok = true;
    for durability in [Durability::Full, Durability::Normal] {
        let (more, counted) = bench_create_on(cfg, dir, durability).await?;
        rows.extend(more);
        ok &= counted;
    }
    println!();
    println!(
        "CreateInvitation, SQLite adapter (use case on SqliteStore) vs a bare sqlx insert loop"
    );
    println!("(rates and ratios: medians over rounds; latencies pooled over rounds)");
    println!(
        "| synchronous | clients | adapter creates/s | adapter p50 ms | adapter p99 ms | bare inserts/s | bare p50 ms | bare p99 ms | ratio adapter/bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &mut rows {
        println!(
            "| {} | {} | {} |",
            row.durability.label(),
            row.clients,
            row.figures.cells()
        );
    }
    Ok(ok)
}

// ------------------------------------------------------------------- list

/// The list data set, as the `pg` bench's: names repeat every NAMES rows,
/// 10 % never expire, the rest over a year by the minute, 100 creators, a
/// third bound to one of 10 flows; in the adapter's column formats (ids
/// as lowercase hyphenated UUID text, random version 4; expiries as
/// INTEGER microseconds; `fixed_data` as a JSON object's text).
fn load_sql() -> String {
    format!(
        "WITH RECURSIVE seq(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?2), \
              r(i, h) AS (SELECT i, lower(hex(randomblob(16))) FROM seq) \
         INSERT INTO {} (id, name, expires, fixed_data, single_use, flow, created_by, version) \
         SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' \
                  || substr('89ab', 1 + i % 4, 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12), \
                'team-' || (i % ?3) || '-invite', \
                CASE WHEN i % 10 = 0 THEN NULL ELSE ?4 + (i % 525600) * 60000000 END, \
                json_object('email', 'user' || i || '@example.org'), \
                i % 2 = 0, \
                CASE WHEN i % 3 = 0 THEN '00000000-0000-4000-8000-00000000000' || (i % 10) END, \
                1 + i % 100, \
                1 \
           FROM r",
        table()
    )
}

/// A fresh file holding the list data set: migrated and loaded on a pool
/// of its own (closed after), then `ANALYZE`d.
async fn load_list_rows(cfg: &Knobs, path: &Path) -> Result<(), BoxError> {
    let pool = Durability::Full.pool(path).await?;
    SqliteStore::new(pool.clone()).migrate().await?;
    let started = Instant::now();
    let sql = load_sql();
    let mut from = 0_u64;
    while from < cfg.list_rows {
        let to = (from + LOAD_BATCH).min(cfg.list_rows);
        sqlx::query(&sql)
            .bind(i64::try_from(from)?)
            .bind(i64::try_from(to)?)
            .bind(i64::try_from(NAMES)?)
            .bind(EXPIRES_FROM)
            .execute(&pool)
            .await?;
        from = to;
    }
    let loaded = started.elapsed();
    execute(&pool, "ANALYZE").await?;
    execute(&pool, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    println!(
        "list: loaded {} rows in {:.1} s (INSERT … SELECT over a recursive CTE, {LOAD_BATCH} rows a statement), ANALYZE and checkpoint in {:.1} s",
        cfg.list_rows,
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64()
    );
    let rows = count_rows(&pool).await?;
    pool.close().await;
    if rows != cfg.list_rows {
        return Err(format!("loaded {rows} rows, not {}", cfg.list_rows).into());
    }
    Ok(())
}

/// Returns whether every total and page length was the data set's.
async fn bench_list(cfg: &Knobs, dir: &Path) -> Result<bool, BoxError> {
    let path = dir.join("list.db");
    load_list_rows(cfg, &path).await?;
    let store = SqliteStore::open(&path).await?;
    let service = service_on(Arc::new(store.clone()));
    println!();
    println!(
        "List at {} rows, page of {PAGE}, {} runs each after 10 warm-up runs, one caller, SqliteStore::open's pool",
        cfg.list_rows, cfg.list_runs
    );
    println!("(name filter {NAME_FILTER:?}; search word {SEARCH_WORD:?})");
    println!("| query | rows matching | SqliteStore::list p50 ms | p99 ms | list use case p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    let mut ok = true;
    let mut mismatches = Vec::new();
    for case in list_cases() {
        let mut times = time_list(&store, &service, &case, cfg.list_runs).await?;
        println!("{}", times.table_row(case.label));
        if let Some(mismatch) = times.mismatch(&case, cfg.list_rows) {
            ok = false;
            mismatches.push(mismatch);
        }
    }
    for mismatch in mismatches {
        println!("{mismatch}");
    }
    store.pool().close().await;
    Ok(ok)
}

// ------------------------------------------------------------------- main

async fn run(cfg: &Knobs, dir: &Path) -> Result<bool, BoxError> {
    let mut ok = true;
    if cfg.wants("create") {
        ok &= bench_create(cfg, dir).await?;
    }
    if cfg.wants("list") {
        ok &= bench_list(cfg, dir).await?;
    }
    Ok(ok)
}

async fn main_async() -> Result<bool, BoxError> {
    let cfg = Knobs::from_env("create,list", "1,16")?;
    let dir = tempfile::Builder::new()
        .prefix("invitation-bench-sqlite-")
        .tempdir()?;
    let version: String = {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteStore::connect_options(dir.path().join("version.db")))
            .await?;
        let version = sqlx::query("SELECT sqlite_version()")
            .fetch_one(&pool)
            .await?
            .try_get(0)?;
        pool.close().await;
        version
    };
    println!(
        "SQLite benchmark: SQLite {version} (sqlx, bundled), files in {}, {} cores",
        dir.path().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let result = run(&cfg, dir.path()).await;
    let removed = dir.close();
    let ok = result?;
    removed?;
    Ok(ok)
}

fn main() -> ExitCode {
    run_main("sqlite bench", main_async())
}
