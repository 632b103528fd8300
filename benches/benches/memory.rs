//! Heap bytes per stored invitation in the in-memory store, with empty and
//! with 1 KiB `fixed_data`, counted by dhat's allocator.
//!
//! `cargo bench -p invitation-benches --bench memory`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use invitation_benches::{create, service, CREATOR};
use invitation_core::InvitationInput;
use serde_json::{Map, Value};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const N: usize = 100_000;

/// `fixed_data` whose compact JSON text is exactly `bytes` long, shaped like
/// real enrollment data: `keys` string fields of equal length.
fn payload(bytes: usize, keys: usize) -> Map<String, Value> {
    let mut map = Map::new();
    if bytes == 0 {
        return map;
    }
    for k in 0..keys {
        map.insert(format!("k{k:02}"), Value::String(String::new()));
    }
    let overhead = serde_json::to_string(&map).unwrap().len();
    let per_key = (bytes - overhead) / keys;
    let mut extra = (bytes - overhead) % keys;
    for value in map.values_mut() {
        let len = per_key + usize::from(extra > 0);
        extra = extra.saturating_sub(1);
        *value = Value::String("x".repeat(len));
    }
    assert_eq!(serde_json::to_string(&map).unwrap().len(), bytes);
    map
}

fn measure(runtime: &tokio::runtime::Runtime, label: &str, data: &Map<String, Value>) {
    let payload_bytes = serde_json::to_string(data).unwrap().len();
    let name = "welcome-new-user";
    let before = dhat::HeapStats::get().curr_bytes;
    let service = service();
    runtime.block_on(async {
        for _ in 0..N {
            let input = InvitationInput::new()
                .name(name)
                .fixed_data_value(serde_json::Value::Object(data.clone()));
            assert!(create(&service, input).await);
        }
    });
    let after = dhat::HeapStats::get().curr_bytes;
    let per = (after - before) as f64 / N as f64;
    // "Payload" = what a caller asked to store: the name and fixed_data text.
    let payload = (name.len() + if payload_bytes == 2 { 0 } else { payload_bytes }) as f64;
    let target = 2.0 * payload + 200.0;
    println!(
        "  {label:<34} {per:>8.0} bytes/invitation  payload {payload:>5.0} B  target <= {target:.0}  ratio to target {:.2}",
        per / target
    );
    drop(service);
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = CREATOR;
    println!("heap per stored invitation in MemoryStore ({N} invitations each):");
    measure(&runtime, "empty fixed_data", &Map::new());
    measure(&runtime, "1 KiB fixed_data, 4 keys", &payload(1024, 4));
    measure(&runtime, "1 KiB fixed_data, 16 keys", &payload(1024, 16));
}
