//! The create use case and its baseline, 20,000 creates each, with nothing
//! else in the process: run under callgrind for instruction counts, which do
//! not move with machine load.
//!
//! ```text
//! cargo bench -p invitation-benches --bench create_instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/deps/create_instructions-<hash>
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep 'create_instructions::run_'
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use invitation_benches::{create, sample_input, service, Baseline};

const N: u64 = 20_000;

#[inline(never)]
fn run_baseline() {
    let mut baseline = Baseline::default();
    for _ in 0..N {
        black_box(baseline.create());
    }
}

#[inline(never)]
fn run_use_case(runtime: &tokio::runtime::Runtime) {
    let service = service();
    runtime.block_on(async {
        for _ in 0..N {
            black_box(create(&service, sample_input()).await);
        }
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    run_baseline();
    run_use_case(&runtime);
}
