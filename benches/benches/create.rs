//! CreateInvitation through the in-memory adapter vs. the baseline (the same
//! validation plus a plain `HashMap` insert, no ports), measured in the same
//! run.
//!
//! `cargo bench -p invitation-benches --bench create`
//!
//! Criterion measures each side on its own first. The summary then runs the
//! two sides interleaved (round after round, each on a fresh store), so that
//! load from other processes on a shared machine hits both alike, and reports
//! the median of the per-round ratios.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use invitation_benches::{create, sample_input, service, Baseline};
use tokio::runtime::Runtime;

const ROUNDS: usize = 40;
const OPS_PER_ROUND: u64 = 20_000;

fn baseline_run(iters: u64) -> Duration {
    let mut baseline = Baseline::default();
    let start = Instant::now();
    for _ in 0..iters {
        black_box(baseline.create());
    }
    start.elapsed()
}

fn use_case_run(runtime: &Runtime, iters: u64) -> Duration {
    let service = service();
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(create(&service, black_box(sample_input())).await);
        }
        start.elapsed()
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("create_invitation");
    group.bench_function("baseline_validate_hashmap_insert", |b| {
        b.iter_custom(baseline_run);
    });
    group.bench_function("use_case_memory_store", |b| {
        b.iter_custom(|iters| use_case_run(&runtime, iters));
    });
    group.finish();
    c.final_summary();

    let ns = |d: Duration| d.as_nanos() as f64 / OPS_PER_ROUND as f64;
    let (mut base, mut case, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let b = ns(baseline_run(OPS_PER_ROUND));
        let u = ns(use_case_run(&runtime, OPS_PER_ROUND));
        base.push(b);
        case.push(u);
        ratio.push(u / b);
    }
    let (base, case, ratio) = (median(&mut base), median(&mut case), median(&mut ratio));
    println!();
    println!("create_invitation, interleaved: {ROUNDS} rounds x {OPS_PER_ROUND} creates, one core, medians");
    println!(
        "  baseline (validate + HashMap insert): {base:>8.1} ns/op  {:>10.0} creates/s",
        1e9 / base
    );
    println!(
        "  use case (ports + MemoryStore):       {case:>8.1} ns/op  {:>10.0} creates/s",
        1e9 / case
    );
    println!("  ratio use case / baseline:            {ratio:>8.2}  (target <= 1.5; >= 1,000,000 creates/s)");
}
