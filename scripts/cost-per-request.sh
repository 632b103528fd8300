#!/usr/bin/env bash
# What one create costs the whole machine, and the load's own process, at N
# concurrent callers: the adapter's benchmark (N callers on N pooled
# connections, the use case on PgStore), invitation-server on PostgreSQL
# (wrk, N connections, a pool of N) and invitation-server on the memory
# store (wrk, N connections), each after a warm-up, PostgreSQL's loads right
# after a CHECKPOINT, the three alternating round by round.
#
# Per load it samples one window in the middle of the load:
#   - the machine's busy and idle time, from /proc/stat (all processes:
#     PostgreSQL, wrk, the kernel);
#   - the load process's CPU time, system calls and context switches, from
#     `perf stat -e task-clock,raw_syscalls:sys_enter,context-switches -p`;
# and divides them by the requests (or creates) answered in the window.
# Unlike req/s, these say where the work goes when the cores are shared:
# the server on PostgreSQL against the adapter is the issue's ratio at 16
# connections (docs/performance.md, sixteenth session).
#
# Environment: COST_CONNECTIONS (default 16), COST_ROUNDS (default 2),
# COST_SECS (length of each load, default 10; the window is 3 s shorter),
# INVITATION_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres; a database is made for the
# run and dropped). Needs perf, wrk and psql; perf and wrk are installed
# from Debian if missing. CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
conns="${COST_CONNECTIONS:-16}"
rounds="${COST_ROUNDS:-2}"
secs="${COST_SECS:-10}"
window=$((secs - 3))
db_url="${INVITATION_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
token="cost-token"
# shellcheck source=lib/http-load.sh
. "$root/scripts/lib/http-load.sh"

say() { echo "cost-per-request: $*" >&2; }
die() {
    say "$*"
    exit 1
}
((window >= 2)) || die "COST_SECS must be at least 5"

work="$(mktemp -d)"
server_pid=""
bench_db=""
cleanup() {
    [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null || true
    [[ -n "$bench_db" ]] && psql "$db_url" -qAtc "DROP DATABASE IF EXISTS \"$bench_db\" WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

ensure_debian_tool wrk "$work/apt.log" || die "cannot install wrk"
ensure_debian_tool perf "$work/apt.log" linux-perf || die "cannot install perf"
command -v psql >/dev/null 2>&1 || die "psql is needed"
psql "$db_url" -qAtc 'SELECT 1' >/dev/null || die "PostgreSQL not reachable at $db_url"
bench_db="cost_per_request_$$"
psql "$db_url" -qAtc "CREATE DATABASE \"$bench_db\"" >/dev/null
run_db_url="$(url_with_database "$db_url" "$bench_db")"

say "building release binaries and the adapter benchmark"
build_release_binaries
build_adapter_bench "$work/pg-build.log" || { cat "$work/pg-build.log" >&2; die "cannot build the adapter benchmark"; }
write_post_lua "$work/post.lua" "$token"

# Busy and total jiffies of the whole machine so far.
machine_jiffies() {
    awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat
}

# window_of PID COUNT_CMD: samples the window (sleeps 1 s first, into the
# load) and prints "busy_s total_s task_ms syscalls switches" for it; then
# prints COUNT_CMD's output (how many were answered in the window) last.
window_of() {
    local pid=$1 before after
    sleep 1
    read -r -a before < <(machine_jiffies)
    perf stat -x, -e task-clock,raw_syscalls:sys_enter,context-switches -p "$pid" \
        -o "$work/perf.csv" -- sleep "$window" >/dev/null 2>&1
    read -r -a after < <(machine_jiffies)
    local hz
    hz="$(getconf CLK_TCK)"
    awk -F, -v b0="${before[0]}" -v t0="${before[1]}" -v b1="${after[0]}" -v t1="${after[1]}" -v hz="$hz" '
        $3 == "task-clock" { task = $1 }
        $3 == "raw_syscalls:sys_enter" { sys = $1 }
        $3 == "context-switches" { cs = $1 }
        END { printf "%.3f %.3f %.1f %d %d\n", (b1 - b0) / hz, (t1 - t0) / hz, task, sys, cs }
    ' "$work/perf.csv"
}

# report KIND ROUND RATE WINDOW_FIGURES: one line per load, per request.
report() {
    local kind=$1 round=$2 rate=$3 busy total task sys cs
    read -r busy total task sys cs <<<"$4"
    awk -v k="$kind" -v r="$round" -v rate="$rate" -v w="$window" -v busy="$busy" -v total="$total" \
        -v task="$task" -v sys="$sys" -v cs="$cs" 'BEGIN {
        n = rate * w
        printf "%s %s %.0f %.1f %.1f %.1f %.2f %.2f\n", k, r, rate, 100 * (1 - busy / total),
            busy * 1e6 / n, task * 1e3 / n, sys / n, cs / n
    }' | tee -a "$work/results" | awk '{ printf "cost-per-request: round %s, %s: %s per s, idle %s %%, machine %s µs, process %s µs, %s syscalls, %s switches\n", $2, $1, $3, $4, $5, $6, $7, $8 }' >&2
}

# The server of KIND (memory or postgres) under wrk.
run_server() {
    local kind=$1 round=$2 args=(--listen 127.0.0.1:0) url figures rate
    [[ "$kind" == postgres ]] && args+=(--database-url "$run_db_url" --database-schema "cost_$round"
        --database-pool-size "$conns")
    : >"$work/server.stdout"
    env INVITATION_BOOTSTRAP_TOKEN="$token" RUST_LOG=info "$server_bin" "${args[@]}" \
        >"$work/server.stdout" 2>"$work/server.stderr" &
    server_pid=$!
    url="$(await_url "$work/server.stdout" "$server_pid")" || { cat "$work/server.stderr" >&2; die "the server did not start"; }
    wrk -t 2 -c "$conns" -d 2s -s "$work/post.lua" "$url$http_path" >/dev/null
    [[ "$kind" == postgres ]] && settle_pg "$db_url"
    wrk -t 2 -c "$conns" -d "${secs}s" -s "$work/post.lua" "$url$http_path" >"$work/wrk.out" &
    local wrk_pid=$!
    figures="$(window_of "$server_pid")"
    wait "$wrk_pid"
    grep -q "Non-2xx" "$work/wrk.out" && die "$kind: wrk saw answers other than 2xx"
    rate="$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.out")"
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
    [[ "$kind" == postgres ]] && psql "$run_db_url" -qAtc "DROP SCHEMA \"cost_$round\" CASCADE" >/dev/null 2>&1
    report "$kind" "$round" "$rate" "$figures"
}

# The adapter's benchmark: N callers, a fresh schema, after a CHECKPOINT.
run_adapter() {
    local round=$1 figures rate
    settle_pg "$db_url"
    INVITATION_BENCH_DATABASE_URL="$run_db_url" INVITATION_BENCH_PARTS=create \
        INVITATION_BENCH_CLIENTS="$conns" INVITATION_BENCH_SECS="$secs" \
        INVITATION_BENCH_ROUNDS=1 PGBENCH=none "$pg_bench" --bench >"$work/pg-bench.log" 2>&1 &
    local bench_pid=$!
    # The window starts once the benchmark's own load has: its setup (a
    # schema, the migrations, warmed connections) takes a moment.
    sleep 1
    figures="$(window_of "$bench_pid")"
    wait "$bench_pid" || { cat "$work/pg-bench.log" >&2; die "the adapter benchmark failed"; }
    IFS=, read -r _ _ _ rate _ < <(grep -m1 '^summary,create,' "$work/pg-bench.log")
    report adapter "$round" "$rate" "$figures"
}

: >"$work/results"
for round in $(seq 1 "$rounds"); do
    if ((round % 2)); then
        run_adapter "$round"
        run_server postgres "$round"
    else
        run_server postgres "$round"
        run_adapter "$round"
    fi
    run_server memory "$round"
done

echo
echo "One create at $conns concurrent callers, medians over $rounds round(s); $(date -u +%F)"
echo
echo "| load | per second | machine idle | machine busy µs per request | load process CPU µs | system calls | context switches |"
echo "|---|---|---|---|---|---|---|"
for kind in adapter postgres memory; do
    awk -v k="$kind" '$1 == k' "$work/results" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
col = lambda i: statistics.median(float(r[i]) for r in rows)
names = {"adapter": "adapter (use case on PgStore)", "postgres": "invitation-server on PostgreSQL",
         "memory": "invitation-server on the memory store"}
print(f"| {names[rows[0][0]]} | {col(2):,.0f} | {col(3):.1f} % | {col(4):.0f} | {col(5):.1f} | {col(6):.2f} | {col(7):.2f} |")'
done
