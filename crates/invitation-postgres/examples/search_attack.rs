//! Many distinct 16-word searches against a large table, through
//! `PgStore::list` on a pool of 8 connections, 8 at a time: prints the list
//! call's latency (p50, p99, max) and each pooled backend's memory (peak
//! `VmRSS`, and its private part `RssAnon`, sampled from `/proc` every
//! 100 ms; PostgreSQL must run on this machine).
//!
//! ```sh
//! INVITATION_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p invitation-postgres --example search_attack -- [random|names|broad] [rows] [searches]
//! ```
//!
//! - `random` (default): words of 3–10 random letters and digits, as an
//!   attacker making every search distinct would send; a fifth of them
//!   resolve to one to three creators or a flow, as a directory lookup may.
//! - `names`: pieces of the stored names and expiry texts (`team-42`,
//!   `2026-03`, `invite`, …) mixed with random words: searches that match.
//! - `broad`: 16 one- and two-character words that occur in most rows
//!   (`e`, `2`, `-`, `t`, …): the total must test every row.
//!
//! The table (`inv_attack.invitations`, 500,000 rows by default, shaped as
//! in `benches/benches/pg.rs`) is kept between runs and reloaded only when
//! its row count differs. The statement timeout is the store's default
//! (5 s) unless `ATTACK_STATEMENT_TIMEOUT_MS` says otherwise;
//! `ATTACK_SHOW_SLOW=1` prints the words of every call over 1 s;
//! `ATTACK_WORDS` sets the words per search (16).
//!
//! One run on the 2-core development machine (PostgreSQL 15,
//! `shared_buffers` 128 MB), 200 searches, 8 at a time (per backend: peak
//! private memory `RssAnon`, peak `Pss` from `smaps_rollup`, peak `VmRSS`,
//! which also counts every page of the shared buffers the backend has
//! touched):
//!
//! | mode, words | p50 | p99 | `RssAnon` | `Pss` | `VmRSS` |
//! |---|---|---|---|---|---|
//! | `random`, 16 | 43 ms | 82 ms | ≤ 5.1 MB | ≤ 7.5 MB | ≤ 45 MB |
//! | `names`, 16 | 44 ms | 84 ms | ≤ 6.2 MB | ≤ 10.4 MB | ≤ 62 MB |
//! | `random`, 1 | 11 ms | 143 ms | ≤ 7.8 MB | ≤ 20.3 MB | ≤ 150 MB |
//! | `broad`, 16 | 5.04 s | 5.17 s: every call stopped by the 5 s statement timeout | ≤ 10.3 MB | ≤ 23.7 MB | ≤ 154 MB |
//!
//! A `broad` search must test every row of the table for every word, and
//! computing a row's expiry text for the words that could occur in it
//! costs about 1.5 µs a time: some 3 s of one core per search at 500,000
//! rows.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use invitation_core::{Filters, FlowId, InvitationStore, ListQuery, Ordering, SearchTerm, UserId};
use invitation_postgres::{PgOptions, PgStore};
use uuid::Uuid;

const SCHEMA: &str = "inv_attack";
const APP: &str = "inv-search-attack";
const POOL: usize = 8;

#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

fn word(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len).map(|_| char::from(*rng.pick(ALPHABET))).collect()
}

fn flow(i: usize) -> FlowId {
    FlowId::from_uuid(
        Uuid::parse_str(&format!("00000000-0000-4000-8000-00000000000{}", i % 10)).unwrap(),
    )
}

fn search(rng: &mut Rng, mode: &str, words: usize) -> Vec<SearchTerm> {
    const BROAD: [&str; 24] = [
        "e", "t", "a", "m", "-", "i", "n", "v", "2", "0", "1", ":", "6", "te", "am", "in", "20",
        "02", "t0", "-0", "3", "4", "5", "z",
    ];
    (0..words)
        .map(|_| {
            let text = match mode {
                "broad" => (*rng.pick(&BROAD)).to_owned(),
                "names" => match rng.below(4) {
                    0 => format!("team-{}", rng.below(10_000)),
                    1 => format!("2026-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
                    2 => (*rng.pick(&["invite", "team", "-invite", "T1"])).to_owned(),
                    _ => {
                        let len = 3 + rng.below(8);
                        word(rng, len)
                    }
                },
                _ => {
                    let len = 3 + rng.below(8);
                    word(rng, len)
                }
            };
            let (creators, flows) = if rng.below(5) == 0 {
                let creators = (0..1 + rng.below(3))
                    .map(|_| UserId::new(i64::try_from(1 + rng.below(100)).unwrap()))
                    .collect();
                (creators, vec![flow(rng.below(10))])
            } else {
                (Vec::new(), Vec::new())
            };
            SearchTerm {
                text,
                creators,
                flows,
            }
        })
        .collect()
}

async fn load(store: &PgStore, rows: u64) {
    let client = store.pool().get().await.expect("connection");
    let table = format!("{SCHEMA}.invitations");
    let have: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0);
    if u64::try_from(have).unwrap() == rows {
        println!("table {table} already holds {rows} rows");
        return;
    }
    let started = Instant::now();
    client
        .batch_execute(&format!("SET statement_timeout = 0; TRUNCATE {table}"))
        .await
        .expect("truncate");
    let mut from = 0;
    while from < rows {
        let to = (from + 100_000).min(rows);
        client
            .execute(
                &format!(
                    "INSERT INTO {table} (id, name, expires, fixed_data, single_use, flow, created_by) \
                     SELECT gen_random_uuid(), 'team-' || (i % 10000) || '-invite', \
                            CASE WHEN i % 10 = 0 THEN NULL \
                                 ELSE timestamptz '2026-01-01 00:00:00Z' + (i % 525600) * interval '1 minute' END, \
                            jsonb_build_object('email', 'user' || i || '@example.org'), \
                            i % 2 = 0, \
                            CASE WHEN i % 3 = 0 THEN ('00000000-0000-4000-8000-00000000000' || (i % 10))::uuid END, \
                            1 + i % 100 \
                       FROM generate_series($1::bigint, $2::bigint - 1) AS i"
                ),
                &[&i64::try_from(from).unwrap(), &i64::try_from(to).unwrap()],
            )
            .await
            .expect("insert");
        from = to;
    }
    client
        .batch_execute(&format!("VACUUM ANALYZE {table}"))
        .await
        .expect("vacuum");
    client
        .batch_execute("RESET statement_timeout")
        .await
        .expect("reset");
    println!(
        "loaded {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// (VmRSS, RssAnon, RssShmem, Pss) in kB.
type Memory = (u64, u64, u64, u64);

fn memory(pid: i32) -> Option<Memory> {
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some((
        field(&status, "VmRSS:")?,
        field(&status, "RssAnon:")?,
        field(&status, "RssShmem:")?,
        field(&rollup, "Pss:")?,
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("random", String::as_str).to_owned();
    let rows: u64 = args.get(2).map_or(500_000, |a| a.parse().expect("rows"));
    let searches: u64 = args.get(3).map_or(200, |a| a.parse().expect("searches"));
    let words: usize = std::env::var("ATTACK_WORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let url = std::env::var("INVITATION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}application_name={APP}");

    // The store's default statement timeout (5 s) unless
    // ATTACK_STATEMENT_TIMEOUT_MS says otherwise.
    let mut options = PgOptions::new().max_size(std::num::NonZeroUsize::new(POOL).unwrap());
    if let Some(ms) = std::env::var("ATTACK_STATEMENT_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options = options.statement_timeout(Duration::from_millis(ms));
    }
    let store = PgStore::connect_with(&url, &options)
        .expect("store")
        .in_schema(SCHEMA)
        .expect("schema");
    store.migrate().await.expect("migrate");
    // Loaded through a pool of its own, so the measured backends' memory is
    // the searches' alone.
    let loader = PgStore::connect(&url.replace(APP, "inv-search-attack-load"))
        .expect("loader")
        .in_schema(SCHEMA)
        .expect("schema");
    load(&loader, rows).await;
    loader.pool().close();

    // Open the whole pool, then find its backends.
    let held: Vec<_> = futures::future::join_all((0..POOL).map(|_| store.pool().get()))
        .await
        .into_iter()
        .map(|c| c.expect("connection"))
        .collect();
    let pids: Vec<i32> = held[0]
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&APP],
        )
        .await
        .expect("pids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    drop(held);

    let peaks: Arc<Mutex<HashMap<i32, Memory>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peaks, done, pids) = (peaks.clone(), done.clone(), pids.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for &pid in &pids {
                    if let Some((rss, anon, shmem, pss)) = memory(pid) {
                        let mut peaks = peaks.lock().unwrap();
                        let peak = peaks.entry(pid).or_default();
                        *peak = (
                            peak.0.max(rss),
                            peak.1.max(anon),
                            peak.2.max(shmem),
                            peak.3.max(pss),
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut rng = Rng(0x5eed_a77a_c000_0001);
    let queries: Vec<ListQuery> = (0..searches)
        .map(|_| ListQuery {
            filters: Filters::default(),
            search: search(&mut rng, &mode, words),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 20,
        })
        .collect();
    let queue = Arc::new(Mutex::new(queries));
    let started = Instant::now();
    let workers: Vec<_> = (0..POOL)
        .map(|_| {
            let (store, queue) = (store.clone(), queue.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut matched = 0;
                let mut failed = 0;
                loop {
                    let Some(query) = queue.lock().unwrap().pop() else {
                        return (times, matched, failed);
                    };
                    let t = Instant::now();
                    let result = store.list(&query).await;
                    let took = t.elapsed();
                    times.push(took);
                    if took > Duration::from_secs(1)
                        && std::env::var_os("ATTACK_SHOW_SLOW").is_some()
                    {
                        let words: Vec<&str> =
                            query.search.iter().map(|w| w.text.as_str()).collect();
                        println!("slow ({:.1} s): {words:?}", took.as_secs_f64());
                    }
                    match result {
                        Ok(page) => matched += page.total,
                        Err(e) => {
                            failed += 1;
                            println!("failed after {:.1} s: {e}", took.as_secs_f64());
                        }
                    }
                }
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut matched = 0;
    let mut failed = 0;
    for worker in workers {
        let (t, m, f) = worker.await.expect("worker");
        times.extend(t);
        matched += m;
        failed += f;
    }
    let wall = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.expect("sampler");
    times.sort();

    println!(
        "mode {mode}: {searches} distinct searches of {words} words over {rows} rows, {POOL} at a time, \
         in {:.1} s ({matched} rows matched in all, {failed} calls failed)",
        wall.as_secs_f64(),
    );
    println!(
        "PgStore::list latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 50.0).as_secs_f64() * 1e3,
        percentile(&times, 99.0).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    let peaks = peaks.lock().unwrap();
    for pid in &pids {
        let (rss, anon, shmem, pss) = peaks.get(pid).copied().unwrap_or_default();
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "backend {pid}: peak VmRSS {:.1} MB (private RssAnon {:.1} MB, shared memory \
             touched RssShmem {:.1} MB), peak Pss {:.1} MB",
            mb(rss),
            mb(anon),
            mb(shmem),
            mb(pss)
        );
    }
}
