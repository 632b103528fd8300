//! The PostgreSQL adapters under load, beside `pgbench`, in one run.
//!
//! `cargo bench -p invitation-benches --bench pg`
//!
//! Two adapters run the same schema and statements: `PgStore`
//! (invitation-postgres, tokio-postgres on a deadpool pool) and
//! `PostgresStore` (invitation-sqlx, on an sqlx `PgPool` made with sqlx's
//! defaults and `PostgresStore::connect_options`). Three parts, each
//! printing a table (no timing is asserted):
//!
//! - **create**: CreateInvitation through `InvitationService::create` on
//!   each adapter (testkit directory and authorizer) at 1, 16 and 64
//!   concurrent callers, each with a pool of as many connections, all
//!   opened and the insert prepared on them before timing, beside
//!   `pgbench -M prepared` running the same single-row INSERT into the same
//!   table at the same client counts; the sides take turns round by round,
//!   each round starting with the next one; creates/s, p50/p99 latency, and
//!   the ratios adapter/pgbench and sqlx/PgStore (medians of the per-round
//!   ratios).
//! - **list**: 1,000,000 rows loaded by batched `INSERT … SELECT`, then the
//!   first page (20 rows) with the default ordering, with a `name` filter and
//!   with a search word, through each adapter's `list` and through the list
//!   use case on it: p50/p99 over 200 runs each. Exits non-zero unless
//!   every total and page length is the data set's and the adapters answer
//!   with the same pages.
//! - **redeem**: 1,000 single-use invitations, each redeemed by 10
//!   concurrent racers through the use case, on each adapter; prints the
//!   number of successes and exits non-zero unless it is exactly 1,000;
//!   reports the rate.
//!
//! Environment (all optional):
//! `INVITATION_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`),
//! `INVITATION_BENCH_PARTS` (default `create,list,redeem`),
//! `INVITATION_BENCH_ADAPTERS` (default `postgres,sqlx`: `postgres` is
//! `PgStore`, `sqlx` is `PostgresStore`),
//! `INVITATION_BENCH_CLIENTS` (default `1,16,64`),
//! `INVITATION_BENCH_SECS` (seconds per load run, default 10),
//! `INVITATION_BENCH_ROUNDS` (load rounds per client count, default 3),
//! `INVITATION_BENCH_LIST_ROWS` (default 1000000),
//! `INVITATION_BENCH_LIST_RUNS` (default 200),
//! `PGBENCH` (the pgbench binary, default `pgbench`; `PGBENCH=none` runs
//! the adapters' side of **create** alone, as `scripts/bench-http.sh` does).
//!
//! Everything lives in a fresh schema `bench_<pid>_<time>`, migrated by
//! each adapter in turn and dropped at the end. Besides the tables, a line
//! `summary,create,<clients>,<PgStore/s>,<pgbench/s>,<ratio>,<p50>,<p99>`
//! per client count is printed for `scripts/bench-http.sh` to read, and
//! `summary,create-sqlx,<clients>,<sqlx/s>,<pgbench/s>,<ratio>,<p50>,<p99>,<sqlx/PgStore>`
//! for the sqlx adapter.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use invitation_benches::adapter::{
    env_list, env_or, list_cases, median, run_main, service_on, time_list, timed_load, warm_up,
    BoxError, Comparison, Knobs, Latencies, LoadResult, NAMES, NAME_FILTER, PAGE, SEARCH_WORD,
};
use invitation_benches::{sample_input, CREATOR};
use invitation_core::{FlowId, InvitationService, InvitationStore, Principal, RedeemError};
use invitation_postgres::deadpool_postgres::{
    Manager, ManagerConfig, Pool, RecyclingMethod, Runtime,
};
use invitation_postgres::tokio_postgres::{self, NoTls};
use invitation_postgres::PgStore;
use invitation_sqlx::sqlx::postgres::PgPoolOptions;
use invitation_sqlx::PostgresStore;
use invitation_testkit::doubles::StaticDirectory;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The share of pgbench's transactions written to its per-transaction log.
const PGBENCH_SAMPLING: f64 = 0.1;
const REDEEM_INVITATIONS: usize = 1_000;
const REDEEM_RACERS: usize = 10;
const REDEEM_WORKERS: usize = 16;

/// A PostgreSQL adapter, as `INVITATION_BENCH_ADAPTERS` names it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Adapter {
    /// `invitation_postgres::PgStore`.
    Postgres,
    /// `invitation_sqlx::PostgresStore`.
    Sqlx,
}

impl Adapter {
    fn parse(name: &str) -> Result<Self, BoxError> {
        match name {
            "postgres" => Ok(Self::Postgres),
            "sqlx" => Ok(Self::Sqlx),
            other => Err(format!(
                "INVITATION_BENCH_ADAPTERS: unknown adapter {other:?} (postgres, sqlx)"
            )
            .into()),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Postgres => "PgStore",
            Self::Sqlx => "sqlx",
        }
    }

    fn list_label(self) -> &'static str {
        match self {
            Self::Postgres => "PgStore::list",
            Self::Sqlx => "PostgresStore::list",
        }
    }

    /// A store on a new pool of `size` connections, migrated when
    /// `migrate` is set.
    async fn store(
        self,
        url: &str,
        schema: &str,
        size: usize,
        migrate: bool,
    ) -> Result<Arc<dyn InvitationStore>, BoxError> {
        Ok(match self {
            Self::Postgres => {
                let store = PgStore::with_schema(pool(url, size)?, schema)?;
                if migrate {
                    store.migrate().await?;
                }
                Arc::new(store)
            }
            Self::Sqlx => {
                // sqlx's pool defaults otherwise (it pings a connection
                // before handing it out), as a host's pool would have them.
                let size = u32::try_from(size)?;
                let pool = PgPoolOptions::new()
                    .max_connections(size)
                    .min_connections(size)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(plain_tcp(PostgresStore::connect_options(url)?, url))
                    .await?;
                let store = PostgresStore::with_schema(pool, schema)?;
                if migrate {
                    store.migrate().await?;
                }
                Arc::new(store)
            }
        })
    }
}

struct Config {
    knobs: Knobs,
    url: String,
    adapters: Vec<Adapter>,
    /// `None`: the adapters' side of `create` alone.
    pgbench: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, BoxError> {
        let adapters = env_list("INVITATION_BENCH_ADAPTERS", "postgres,sqlx")
            .iter()
            .map(|a| Adapter::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        if adapters.is_empty() {
            return Err("INVITATION_BENCH_ADAPTERS names no adapter".into());
        }
        Ok(Self {
            knobs: Knobs::from_env("create,list,redeem", "1,16,64")?,
            url: env_or("INVITATION_BENCH_DATABASE_URL", DEFAULT_URL),
            adapters,
            pgbench: Some(env_or("PGBENCH", "pgbench")).filter(|p| p != "none"),
        })
    }
}

// ---------------------------------------------------------------- helpers

/// `options` without TLS unless the URL names an `sslmode`: plain TCP, as
/// the PgStore side (`NoTls`) and pgbench (`PGSSLMODE=disable`) connect,
/// where sqlx's default (`prefer`) would encrypt wherever the server has
/// TLS on.
fn plain_tcp(
    options: invitation_sqlx::sqlx::postgres::PgConnectOptions,
    url: &str,
) -> invitation_sqlx::sqlx::postgres::PgConnectOptions {
    if url.contains("sslmode=") {
        options
    } else {
        options.ssl_mode(invitation_sqlx::sqlx::postgres::PgSslMode::Disable)
    }
}

fn pool(url: &str, size: usize) -> Result<Pool, BoxError> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(10)))
        .build()?)
}

/// The adapter on a pool of `size` connections, every connection opened
/// and the insert statement prepared on it (pgbench's figures also leave
/// out connecting).
async fn warm_service(
    cfg: &Config,
    schema: &str,
    adapter: Adapter,
    size: usize,
) -> Result<InvitationService, BoxError> {
    let service = service_on(adapter.store(&cfg.url, schema, size, false).await?);
    warm_up(size, 3, &service).await?;
    Ok(service)
}

struct Admin {
    client: tokio_postgres::Client,
    table: String,
}

impl Admin {
    async fn truncate(&self) -> Result<(), BoxError> {
        self.client
            .batch_execute(&format!("TRUNCATE {}", self.table))
            .await?;
        Ok(())
    }
}

// ----------------------------------------------------------------- create

/// `clients` callers creating through the use case on `adapter` for `secs`
/// seconds.
async fn adapter_load(
    cfg: &Config,
    schema: &str,
    adapter: Adapter,
    clients: usize,
) -> Result<LoadResult, BoxError> {
    let service = warm_service(cfg, schema, adapter, clients).await?;
    timed_load(clients, Duration::from_secs(cfg.knobs.secs), &service).await
}

/// The INSERT pgbench runs: the adapter's columns and the values of
/// `sample_input()` (the id made by the server, as the adapter's is made by
/// the client).
fn pgbench_script(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, name, expires, fixed_data, single_use, flow, created_by) \
         VALUES (gen_random_uuid(), 'welcome-new-user', NULL, \
         '{{\"email\":\"new.user@example.org\"}}', true, NULL, {creator});\n",
        creator = CREATOR.get()
    )
}

fn pgbench_load(
    pgbench: &str,
    cfg: &Config,
    script: &Path,
    log_dir: &Path,
    clients: usize,
) -> Result<LoadResult, BoxError> {
    // Fresh per-transaction logs for this run.
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pgbench_log"))
        {
            std::fs::remove_file(path)?;
        }
    }
    let prefix = log_dir.join("pgbench_log");
    let output = Command::new(pgbench)
        // Plain TCP, as this benchmark's pool connects (`NoTls`): libpq's
        // default, `prefer`, would encrypt pgbench's side wherever the
        // server has TLS on (Debian's default), which costs it 2–15 % of
        // its rate at 16 clients. A `sslmode` in the URL still wins.
        .env("PGSSLMODE", "disable")
        .arg("-n")
        .args(["-M", "prepared"])
        .arg("-f")
        .arg(script)
        .args(["-T", &cfg.knobs.secs.to_string()])
        .args(["-c", &clients.to_string(), "-j", &clients.to_string()])
        // Log one transaction in ten, for the percentiles: logging every
        // one costs pgbench measurable throughput.
        .arg("-l")
        .arg(format!("--sampling-rate={PGBENCH_SAMPLING}"))
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&cfg.url)
        .output()
        .map_err(|e| format!("cannot run {pgbench}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    // "tps = 1234.567890 (without initial connection time)"
    let rate = stdout
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("tps = ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .ok_or_else(|| format!("no tps line in pgbench's output:\n{stdout}"))?;
    // Per-transaction log lines: client_id transaction_no time_us script_no epoch us.
    let mut latencies = Latencies::default();
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pgbench_log"))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line.split_whitespace().nth(2).and_then(|t| t.parse().ok()) {
                latencies.0.push(us);
            }
        }
    }
    Ok(LoadResult { rate, latencies })
}

struct CreateRow {
    clients: usize,
    /// Each adapter beside pgbench, in the order of `Config::adapters`.
    figures: Vec<Comparison>,
    /// Each round's ratio sqlx / PgStore, when both ran.
    sqlx_to_pg_store: Vec<f64>,
}

/// A copy of `result`, for a second adapter's comparison with the same
/// pgbench run.
fn copy_result(result: &LoadResult) -> LoadResult {
    LoadResult {
        rate: result.rate,
        latencies: Latencies(result.latencies.0.clone()),
    }
}

async fn bench_create(
    cfg: &Config,
    schema: &str,
    admin: &Admin,
    work: &Path,
) -> Result<Vec<CreateRow>, BoxError> {
    let script = work.join("insert.sql");
    std::fs::write(&script, pgbench_script(&admin.table))?;
    // The sides: each adapter (by index), then pgbench (`None`).
    let mut sides: Vec<Option<usize>> = (0..cfg.adapters.len()).map(Some).collect();
    if cfg.pgbench.is_some() {
        sides.push(None);
    }
    println!(
        "create: {} s per run, {} round(s), client counts {:?}, adapters {:?}; pgbench script:\n  {}",
        cfg.knobs.secs,
        cfg.knobs.rounds,
        cfg.knobs.clients,
        cfg.adapters.iter().map(|a| a.label()).collect::<Vec<_>>(),
        pgbench_script(&admin.table).trim()
    );
    let mut rows: Vec<CreateRow> = cfg
        .knobs
        .clients
        .iter()
        .map(|&clients| CreateRow {
            clients,
            figures: cfg.adapters.iter().map(|_| Comparison::default()).collect(),
            sqlx_to_pg_store: Vec::new(),
        })
        .collect();
    let position = |adapter: Adapter| cfg.adapters.iter().position(|a| *a == adapter);
    for round in 0..cfg.knobs.rounds {
        for row in &mut rows {
            // Each round starts with the next side, so drift hits all alike.
            let mut adapters: Vec<Option<LoadResult>> = cfg.adapters.iter().map(|_| None).collect();
            let mut pgbench = None;
            for turn in 0..sides.len() {
                admin.truncate().await?;
                match sides[(turn + round) % sides.len()] {
                    Some(i) => {
                        adapters[i] =
                            Some(adapter_load(cfg, schema, cfg.adapters[i], row.clients).await?);
                    }
                    None => {
                        let binary = cfg.pgbench.as_deref().ok_or("PGBENCH=none")?;
                        pgbench = Some(pgbench_load(binary, cfg, &script, work, row.clients)?);
                    }
                }
            }
            let adapters = adapters
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or("an adapter's load run is missing")?;
            let sqlx_to_pg_store = match (position(Adapter::Sqlx), position(Adapter::Postgres)) {
                (Some(sqlx), Some(pg_store)) => Some(adapters[sqlx].rate / adapters[pg_store].rate),
                _ => None,
            };
            let mut said: Vec<String> = cfg
                .adapters
                .iter()
                .zip(adapters)
                .zip(&mut row.figures)
                .map(|((adapter, result), figures)| {
                    let pgbench = pgbench.as_ref().map(copy_result);
                    let record = figures.record(result, pgbench, "pgbench");
                    format!("{}: {record}", adapter.label())
                })
                .collect();
            if let Some(ratio) = sqlx_to_pg_store {
                row.sqlx_to_pg_store.push(ratio);
                said.push(format!("sqlx/PgStore {ratio:.3}"));
            }
            println!(
                "  round {} clients {:>3}: {}",
                round + 1,
                row.clients,
                said.join("; ")
            );
        }
    }
    admin.truncate().await?;
    Ok(rows)
}

fn print_create(cfg: &Config, rows: &mut [CreateRow]) {
    println!();
    println!(
        "CreateInvitation through the use case on PgStore (invitation-postgres) and on sqlx (invitation-sqlx's PostgresStore) vs pgbench -M prepared"
    );
    println!(
        "(rates and ratios: medians over rounds; latencies pooled over rounds, pgbench's from a {:.0} % sample of its transactions)",
        PGBENCH_SAMPLING * 100.0
    );
    println!(
        "| clients | adapter | creates/s | p50 ms | p99 ms | pgbench tps | pgbench p50 ms | pgbench p99 ms | ratio adapter/pgbench | ratio sqlx/PgStore | target |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows.iter_mut() {
        let to_pg_store = median(&mut row.sqlx_to_pg_store);
        for (adapter, figures) in cfg.adapters.iter().zip(&mut row.figures) {
            let (ratio, target) = match adapter {
                Adapter::Postgres => (
                    String::new(),
                    match row.clients {
                        1 => "≥ 0.80",
                        16 => "≥ 0.85",
                        _ => "",
                    },
                ),
                Adapter::Sqlx if !to_pg_store.is_nan() => (format!("{to_pg_store:.2}"), ""),
                Adapter::Sqlx => (String::new(), ""),
            };
            println!(
                "| {} | {} | {} | {ratio} | {target} |",
                row.clients,
                adapter.label(),
                figures.cells()
            );
        }
    }
    // `summary,create,` is PgStore's, in the form scripts/bench-http.sh
    // reads; `summary,create-sqlx,` adds the ratio sqlx/PgStore.
    for row in rows.iter_mut() {
        let to_pg_store = median(&mut row.sqlx_to_pg_store);
        for (adapter, figures) in cfg.adapters.iter().zip(&mut row.figures) {
            let (kind, extra) = match adapter {
                Adapter::Postgres => ("create", String::new()),
                Adapter::Sqlx => ("create-sqlx", format!(",{to_pg_store:.3}")),
            };
            println!(
                "summary,{kind},{},{:.0},{:.0},{:.3},{:.2},{:.2}{extra}",
                row.clients,
                median(&mut figures.adapter_rates),
                median(&mut figures.baseline_rates),
                median(&mut figures.ratios),
                figures.adapter.quantile_ms(0.5),
                figures.adapter.quantile_ms(0.99),
            );
        }
    }
}

// ------------------------------------------------------------------- list

async fn load_list_rows(cfg: &Config, admin: &Admin) -> Result<(), BoxError> {
    admin.truncate().await?;
    let started = Instant::now();
    let batch = 100_000_u64;
    let mut from = 0_u64;
    while from < cfg.knobs.list_rows {
        let to = (from + batch).min(cfg.knobs.list_rows);
        // Spread like a real table: 10 % never expire, the rest over a
        // year by the minute; 100 creators; a third bound to one of 10
        // flows; names repeat every NAMES rows.
        admin
            .client
            .execute(
                &format!(
                    "INSERT INTO {table} (id, name, expires, fixed_data, single_use, flow, created_by) \
                     SELECT gen_random_uuid(), \
                            'team-' || (i % $3) || '-invite', \
                            CASE WHEN i % 10 = 0 THEN NULL \
                                 ELSE timestamptz '2026-01-01 00:00:00Z' + (i % 525600) * interval '1 minute' END, \
                            jsonb_build_object('email', 'user' || i || '@example.org'), \
                            i % 2 = 0, \
                            CASE WHEN i % 3 = 0 THEN ('00000000-0000-4000-8000-00000000000' || (i % 10))::uuid END, \
                            1 + i % 100 \
                       FROM generate_series($1::bigint, $2::bigint - 1) AS i",
                    table = admin.table
                ),
                &[
                    &i64::try_from(from)?,
                    &i64::try_from(to)?,
                    &i64::try_from(NAMES)?,
                ],
            )
            .await?;
        from = to;
    }
    let loaded = started.elapsed();
    admin
        .client
        .batch_execute(&format!("VACUUM ANALYZE {}", admin.table))
        .await?;
    println!(
        "list: loaded {} rows in {:.1} s (batched INSERT … SELECT of 100,000 rows), VACUUM ANALYZE in {:.1} s",
        cfg.knobs.list_rows,
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64()
    );
    Ok(())
}

/// Returns whether every total and page length was the data set's and
/// the adapters answered with the same pages.
async fn bench_list(cfg: &Config, schema: &str, admin: &Admin) -> Result<bool, BoxError> {
    load_list_rows(cfg, admin).await?;
    let mut stores = Vec::with_capacity(cfg.adapters.len());
    for &adapter in &cfg.adapters {
        stores.push((adapter, adapter.store(&cfg.url, schema, 2, false).await?));
    }
    println!();
    println!(
        "List at {} rows, page of {PAGE}, {} runs each after 10 warm-up runs, one caller, through each adapter and the list use case on it",
        cfg.knobs.list_rows, cfg.knobs.list_runs
    );
    println!("(name filter {NAME_FILTER:?}; search word {SEARCH_WORD:?})");
    let mut header = String::from("| query | rows matching |");
    for (adapter, _) in &stores {
        header += &format!(
            " {} p50 ms | p99 ms | use case on {} p50 ms | p99 ms |",
            adapter.list_label(),
            adapter.label()
        );
    }
    println!("{header} target |");
    println!("|---|---|{}---|", "---|".repeat(4 * stores.len()));
    // The cases' targets, in `list_cases`' order.
    let targets = ["p50 < 5 ms", "p50 < 5 ms", "as measured"];
    let mut mismatches = Vec::new();
    for (case, target) in list_cases().iter().zip(targets) {
        let (mut total, mut cells, mut pages) = (0, String::new(), Vec::new());
        for (adapter, store) in &stores {
            let service = service_on(store.clone());
            let mut times = time_list(store.as_ref(), &service, case, cfg.knobs.list_runs).await?;
            if let Some(mismatch) = times.mismatch(case, cfg.knobs.list_rows) {
                mismatches.push(format!("{}: {mismatch}", adapter.label()));
            }
            total = times.total;
            cells += &format!(" {} |", times.cells());
            let page = store.list(&case.query).await?;
            pages.push(page.items.iter().map(|i| *i.id()).collect::<Vec<_>>());
        }
        if pages.iter().any(|page| *page != pages[0]) {
            mismatches.push(format!(
                "list, {}: the adapters' pages differ ({pages:?}): MISMATCH",
                case.label
            ));
        }
        println!("| {} | {total} |{cells} {target} |", case.label);
    }
    for mismatch in &mismatches {
        println!("{mismatch}");
    }
    admin.truncate().await?;
    Ok(mismatches.is_empty())
}

// ----------------------------------------------------------------- redeem

/// Returns whether exactly one racer per invitation succeeded.
async fn bench_redeem(
    cfg: &Config,
    schema: &str,
    admin: &Admin,
    adapter: Adapter,
) -> Result<bool, BoxError> {
    admin.truncate().await?;
    let service = warm_service(cfg, schema, adapter, REDEEM_WORKERS).await?;
    admin.truncate().await?;
    let caller = Principal::user(CREATOR);
    let mut tokens = Vec::with_capacity(REDEEM_INVITATIONS * REDEEM_RACERS);
    for _ in 0..REDEEM_INVITATIONS {
        let view = service.create(&caller, sample_input()).await?;
        if !view.invitation.single_use() {
            return Err("sample_input() is not single-use".into());
        }
        let token = view.invitation.id().to_string();
        // The racers for one invitation sit side by side, so the workers
        // pick them up at the same time.
        for _ in 0..REDEEM_RACERS {
            tokens.push(token.clone());
        }
    }
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    // Unbound invitations: any enrollment flow may redeem them.
    let flow: FlowId = StaticDirectory::flow_id_for("default-enrollment-flow");
    let started = Instant::now();
    let workers: Vec<_> = (0..REDEEM_WORKERS)
        .map(|_| {
            let (service, tokens, next) = (service.clone(), tokens.clone(), next.clone());
            tokio::spawn(async move {
                let (mut won, mut lost) = (0_usize, 0_usize);
                loop {
                    let i = next.fetch_add(1, AtomicOrdering::Relaxed);
                    let Some(token) = tokens.get(i) else { break };
                    match service.redeem(token, Some(&flow)).await {
                        Ok(_) => won += 1,
                        Err(RedeemError::NotFound) => lost += 1,
                        Err(other) => return Err::<_, BoxError>(other.into()),
                    }
                }
                Ok((won, lost))
            })
        })
        .collect();
    let (mut won, mut lost) = (0, 0);
    for worker in workers {
        let (w, l) = worker.await??;
        won += w;
        lost += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let attempts = tokens.len();
    let ok = won == REDEEM_INVITATIONS && won + lost == attempts;
    println!();
    println!(
        "Single-use redemption on {}: {REDEEM_INVITATIONS} invitations x {REDEEM_RACERS} racers = {attempts} contested redemptions, {REDEEM_WORKERS} workers on {REDEEM_WORKERS} connections",
        adapter.label()
    );
    println!(
        "| redemptions | successes | refused (already used) | expected successes | redemptions/s |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {attempts} | {won} | {lost} | {REDEEM_INVITATIONS} | {:.0} |",
        attempts as f64 / elapsed
    );
    println!(
        "redeem, {}: {won} successes of {attempts}: {}",
        adapter.label(),
        if ok {
            "exactly one per invitation"
        } else {
            "MISMATCH"
        }
    );
    let remaining: i64 = admin
        .client
        .query_one(&format!("SELECT count(*) FROM {}", admin.table), &[])
        .await?
        .try_get(0)?;
    if remaining != 0 {
        println!(
            "redeem, {}: {remaining} invitations left in the table: MISMATCH",
            adapter.label()
        );
    }
    Ok(ok && remaining == 0)
}

// ------------------------------------------------------------------- main

fn work_dir(schema: &str) -> Result<PathBuf, BoxError> {
    let dir = std::env::temp_dir().join(format!("invitation-bench-{schema}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn run(cfg: &Config, schema: &str, admin: &Admin, work: &Path) -> Result<bool, BoxError> {
    // Each adapter migrates in turn: the first makes the schema, the
    // others find it current.
    for &adapter in &cfg.adapters {
        adapter.store(&cfg.url, schema, 1, true).await?;
    }
    let mut ok = true;
    if cfg.knobs.wants("create") {
        let mut rows = bench_create(cfg, schema, admin, work).await?;
        print_create(cfg, &mut rows);
    }
    if cfg.knobs.wants("list") {
        ok &= bench_list(cfg, schema, admin).await?;
    }
    if cfg.knobs.wants("redeem") {
        for &adapter in &cfg.adapters {
            ok &= bench_redeem(cfg, schema, admin, adapter).await?;
        }
    }
    Ok(ok)
}

async fn main_async() -> Result<bool, BoxError> {
    let cfg = Config::from_env()?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let schema = format!("bench_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let (client, connection) = tokio_postgres::connect(&cfg.url, NoTls)
        .await
        .map_err(|e| format!("PostgreSQL not reachable at {}: {e}", cfg.url))?;
    tokio::spawn(connection);
    let admin = Admin {
        client,
        table: format!("\"{schema}\".invitations"),
    };
    let work = work_dir(&schema)?;
    println!(
        "PostgreSQL benchmark: {} ({}), schema {schema}, {} cores",
        cfg.url,
        admin
            .client
            .query_one("SHOW server_version", &[])
            .await?
            .try_get::<_, String>(0)?,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let result = run(&cfg, &schema, &admin, &work).await;
    let dropped = admin
        .client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
    let _ = std::fs::remove_dir_all(&work);
    let ok = result?;
    dropped?;
    Ok(ok)
}

fn main() -> ExitCode {
    run_main("pg bench", main_async())
}
