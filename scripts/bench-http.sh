#!/usr/bin/env bash
# HTTP benchmark (issue 4): POST create with wrk at 16 and 64 connections,
# all in one run, all on loopback:
#
#   (a) invitation-server on the in-memory store (as configured, with its
#       access log, and again with RUST_LOG=warn, without it), beside
#   (b) the baseline: one axum route that reads the body and answers a fixed
#       201 body of the same size (benches/src/bin/baseline_server.rs),
#       served by axum::serve on tokio's work-stealing runtime (the target's
#       baseline), and again on the server's own worker threads
#       (--workers, for reference);
#   (c) invitation-server on PostgreSQL (--database-url), beside the
#       adapter's own create rate at the same concurrency (the `create` part
#       of `cargo bench -p invitation-benches --bench pg`, without pgbench,
#       run next to each HTTP load, the two in alternating order, each
#       measured right after a CHECKPOINT).
#
# Builds release binaries, installs wrk from Debian if it is missing, starts
# a fresh server on a free port for every load (so no load inherits the
# invitations another stored), runs the loads round by round, prints a
# table of medians with the ratios (each the median of the rounds' own
# ratios, which are listed beside it) and the CPU time (user + system) the
# server and wrk spent per answered request, stops the servers and drops
# the database it made. Prints figures only: no target is asserted (the exit
# code is non-zero only when something could not run, or when a request was
# not answered 201).
#
# Environment:
#   INVITATION_BENCH_DATABASE_URL  PostgreSQL (default
#                                  postgres://postgres@127.0.0.1:5432/postgres);
#                                  a database bench_http_<pid> is made on that
#                                  server for (c) and dropped at the end
#   BENCH_HTTP_SECS                seconds per load run (default 10)
#   BENCH_HTTP_WARMUP_SECS         seconds of uncounted load before each
#                                  run, same connections (default 2)
#   BENCH_HTTP_ROUNDS              rounds (default 3)
#   BENCH_HTTP_CONNECTIONS         connection counts (default "16 64")
#   BENCH_HTTP_THREADS             wrk threads (default 2)
#   BENCH_HTTP_SKIP_PG=1           only (a) and (b)
#   RUST_LOG                       the server's log filter (default: the
#                                  server's own, info: one access line per
#                                  request, written to a file here)
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

db_url="${INVITATION_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
secs="${BENCH_HTTP_SECS:-10}"
warmup="${BENCH_HTTP_WARMUP_SECS:-2}"
rounds="${BENCH_HTTP_ROUNDS:-3}"
connections="${BENCH_HTTP_CONNECTIONS:-16 64}"
threads="${BENCH_HTTP_THREADS:-2}"
skip_pg="${BENCH_HTTP_SKIP_PG:-0}"
# shellcheck source=lib/http-load.sh
. "$root/scripts/lib/http-load.sh"
path="$http_path"
body="$http_body"

say() { echo "bench-http: $*" >&2; }
die() {
    say "$*"
    exit 1
}

work="$(mktemp -d)"
pids=()
bench_db=""
admin_url=""

stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    if [[ -n "$bench_db" ]]; then
        psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS \"$bench_db\" WITH (FORCE)" >/dev/null 2>&1 ||
            say "could not drop database $bench_db"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. wrk (Debian's package).
ensure_debian_tool wrk "$work/apt.log" || die "cannot install wrk"

# 2. Release binaries.
say "building release binaries"
build_release_binaries

token="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

# Starts "$@" with its output in $work/<name>.*, waits for its
# URL on its standard output (await_url); sets $started_url and $started_pid.
start() {
    local name=$1
    shift
    # Emptied here, before the fork: the child's own redirection truncates
    # only once it runs, and until then the loop below would read the line
    # an earlier server of the same kind left, with that server's port.
    : >"$work/$name.stdout"
    "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
    started_pid=$!
    pids+=("$started_pid")
    started_url="$(await_url "$work/$name.stdout" "$started_pid")" ||
        { cat "$work/$name.stderr" >&2; die "$name did not start"; }
}

server_env=(env -u INVITATION_DATABASE_URL -u INVITATION_DIRECTORY -u INVITATION_LISTEN
    -u INVITATION_DATABASE_SCHEMA INVITATION_BOOTSTRAP_TOKEN="$token")
[[ -n "${RUST_LOG:-}" ]] && server_env+=(RUST_LOG="$RUST_LOG")

# One POST through curl: checks the 201 and prints the body's size.
probe() {
    local url=$1 status
    status="$(curl -sS -o "$work/probe.json" -w '%{http_code}' -X POST "$url$path" \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" --data "$body")"
    [[ "$status" == 201 ]] || { cat "$work/probe.json" >&2; die "POST $url$path answered $status, not 201"; }
    wc -c <"$work/probe.json" | tr -d ' '
}

wait_ready() {
    local url=$1
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$url/-/health/ready/" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$url/-/health/ready/ never answered 200"
}

write_post_lua "$work/post.lua" "$token"

# CPU seconds (user + system) that process $1 has used so far.
clock_ticks="$(getconf CLK_TCK)"
cpu_seconds() {
    awk -v tck="$clock_ticks" '{ printf "%.2f\n", ($14 + $15) / tck }' "/proc/$1/stat"
}

# Runs wrk against the server with pid $3; prints "req/s p50_ms p99_ms
# server_cpu_us wrk_cpu_us": the last two are CPU time (user + system) per
# answered request, the server's read from /proc before and after the load,
# wrk's from its own rusage.
load() {
    local url=$1 conns=$2 server=$3 out before after
    before="$(cpu_seconds "$server")"
    out="$(python3 -c '
import resource, subprocess, sys
run = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
used = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(run.stdout)
print(f"wrk cpu seconds: {used.ru_utime + used.ru_stime:.3f}")
sys.exit(run.returncode)' wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 10s --latency \
        -s "$work/post.lua" "$url$path")"
    after="$(cpu_seconds "$server")"
    echo "$out" >>"$work/wrk.log"
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        echo "$out" >&2
        die "some requests to $url were not answered 2xx"
    fi
    awk -v before="$before" -v after="$after" '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /^Requests\/sec:/ { rate = $2 }
        / requests in / { requests = $1 }
        /^wrk cpu seconds:/ { wrk_cpu = $4 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        END {
            if (requests == 0) { requests = 1 }  # none answered: the figures are moot
            printf "%.0f %.3f %.3f %.2f %.2f\n", rate, p50, p99,
                (after - before) * 1e6 / requests, wrk_cpu * 1e6 / requests
        }
    ' <<<"$out"
}

# 3. The database for (c).
server_db_url=""
if [[ "$skip_pg" != 1 ]]; then
    command -v psql >/dev/null 2>&1 || die "psql is needed for the PostgreSQL part (or BENCH_HTTP_SKIP_PG=1)"
    admin_url="$db_url"
    psql "$admin_url" -qAtc 'SELECT 1' >/dev/null || die "PostgreSQL not reachable at $db_url (or BENCH_HTTP_SKIP_PG=1)"
    bench_db="bench_http_$$"
    psql "$admin_url" -qAtc "CREATE DATABASE \"$bench_db\"" >/dev/null
    server_db_url="$(url_with_database "$db_url" "$bench_db")"
fi

# Starts the server of one kind (fresh for every load, so no run inherits
# another's stored invitations): sets $url and $pid.
pg_loads=0
#   memory        invitation-server, memory store, log filter as configured
#   memory-quiet  the same with RUST_LOG=warn (no access log line)
#   baseline      the baseline route, answering $body_bytes bytes
#   baseline-workers  the same, served by invitation-server's workers
#   postgres      invitation-server on the database made above, in a new
#                 schema (an empty table) each time, with a pool of as
#                 many connections as the load opens ($conns)
start_kind() {
    case "$1" in
    memory) start "$1" "${server_env[@]}" "$server_bin" --listen 127.0.0.1:0 ;;
    memory-quiet) start "$1" "${server_env[@]}" RUST_LOG=warn "$server_bin" --listen 127.0.0.1:0 ;;
    baseline) start "$1" "$baseline_bin" --listen 127.0.0.1:0 --body-bytes "$body_bytes" ;;
    baseline-workers)
        start "$1" "$baseline_bin" --listen 127.0.0.1:0 --body-bytes "$body_bytes" --workers "$(nproc)"
        ;;
    postgres)
        # A schema of its own, so every load starts on an empty table, and
        # as many pooled connections as wrk opens: as the adapter's run (a
        # fresh schema, N callers on N connections) does.
        pg_loads=$((pg_loads + 1))
        start "$1" "${server_env[@]}" "$server_bin" --listen 127.0.0.1:0 --database-url "$server_db_url" \
            --database-schema "http_load_$pg_loads" --database-pool-size "$conns"
        ;;
    *) die "unknown kind $1" ;;
    esac
    url="$started_url"
    pid="$started_pid"
    [[ "$1" == baseline* ]] || wait_ready "$url"
}

# 4. The size of the real 201 body, then the baseline's (must agree).
body_bytes=0
start_kind memory
body_bytes="$(probe "$url")"
stop_pid "$pid"
start_kind baseline
baseline_bytes="$(probe "$url")"
stop_pid "$pid"
[[ "$baseline_bytes" == "$body_bytes" ]] || die "baseline body $baseline_bytes bytes, server's $body_bytes"
say "201 body: $body_bytes bytes, server and baseline alike"

pg_bench=""
if [[ -n "$server_db_url" ]]; then
    say "building the adapter benchmark"
    build_adapter_bench "$work/pg-build.log" ||
        { cat "$work/pg-build.log" >&2; die "cannot build the adapter benchmark"; }
fi

say "loads: ${secs}s each, $rounds round(s), connections: $connections, wrk threads: $threads"


# One load of one kind on a fresh server; appends to the results.
run_kind() {
    local kind=$1 conns=$2 round=$3 rate p50 p99 server_us wrk_us
    start_kind "$kind"
    # Warm-up, not counted: connections opened (wrk's, and the server's
    # pooled PostgreSQL ones), code and caches hot.
    wrk -t "$threads" -c "$conns" -d "${warmup}s" --timeout 10s -s "$work/post.lua" \
        "$url$path" >/dev/null
    [[ "$kind" == postgres ]] && settle_pg "$admin_url"
    read -r rate p50 p99 server_us wrk_us < <(load "$url" "$conns" "$pid")
    stop_pid "$pid"
    if [[ "$kind" == postgres ]]; then
        # Gone before the next load, as the adapter's schema is: no
        # earlier table left for autovacuum to work on.
        psql "$server_db_url" -qAtc "DROP SCHEMA \"http_load_$pg_loads\" CASCADE" >/dev/null 2>&1
    fi
    say "round $round, $conns connections, $kind: $rate req/s, p50 $p50 ms, p99 $p99 ms," \
        "CPU per request: server $server_us µs, wrk $wrk_us µs"
    echo "$kind $conns $round $rate $p50 $p99 $server_us $wrk_us" >>"$work/results"
}

# The adapter's own create rate at the same concurrency: the create part of
# the pg bench, without pgbench.
run_adapter() {
    local conns=$1 round=$2 rate p50 p99
    settle_pg "$admin_url"
    INVITATION_BENCH_DATABASE_URL="$db_url" INVITATION_BENCH_PARTS=create \
        INVITATION_BENCH_CLIENTS="$conns" INVITATION_BENCH_SECS="$secs" \
        INVITATION_BENCH_ROUNDS=1 PGBENCH=none \
        "$pg_bench" --bench >"$work/pg-bench.log" 2>&1 ||
        { cat "$work/pg-bench.log" >&2; die "the adapter benchmark failed"; }
    IFS=, read -r _ _ _ rate _ _ p50 p99 < <(grep -m1 '^summary,create,' "$work/pg-bench.log")
    say "round $round, $conns callers, adapter: $rate creates/s, p50 $p50 ms, p99 $p99 ms"
    echo "adapter $conns $round $rate $p50 $p99" >>"$work/results"
}

# 5. The loads, round by round. Within a round the order alternates: of
# the memory kinds, and of the server on PostgreSQL and the adapter.
# results: kind conns round rate p50 p99
: >"$work/results"
for round in $(seq 1 "$rounds"); do
    for conns in $connections; do
        if ((round % 2 == 1)); then
            kinds="baseline memory memory-quiet baseline-workers"
        else
            kinds="baseline-workers memory-quiet memory baseline"
        fi
        for kind in $kinds; do
            run_kind "$kind" "$conns" "$round"
        done
        if [[ -n "$server_db_url" ]]; then
            if ((round % 2 == 1)); then
                run_kind postgres "$conns" "$round"
                run_adapter "$conns" "$round"
            else
                run_adapter "$conns" "$round"
                run_kind postgres "$conns" "$round"
            fi
        fi
    done
done

# 6. The table: medians over rounds.
echo
echo "POST $path, wrk -t $threads -c N -d ${secs}s --latency, $rounds round(s), medians over rounds; $(date -u +%Y-%m-%d)"
echo "201 body: $body_bytes bytes (server and baseline alike); request body: ${#body} bytes"
echo
python3 - "$work/results" "$connections" <<'EOF'
import statistics, sys
# kind conns round rate p50 p99 [server_cpu_us wrk_cpu_us]
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
conns = sys.argv[2].split()

def med(kind, c, col):
    values = [float(r[col]) for r in rows if r[0] == kind and r[1] == c and len(r) > col]
    return statistics.median(values) if values else None

def fmt(v, spec):
    return "—" if v is None else format(v, spec)

def round_ratios(kind, other_kind, c, col=3):
    """Each round's ratio of column `col`, in round order (the two sides of
    a pair measured seconds apart, so drift in the machine's load cancels)."""
    values = {(r[0], r[2]): float(r[col]) for r in rows if r[1] == c and len(r) > col}
    return [values[(kind, rnd)] / values[(other_kind, rnd)]
            for (k, rnd) in sorted(values, key=lambda kr: int(kr[1]))
            if k == kind and (other_kind, rnd) in values]

def round_ratio(kind, other_kind, c, col=3):
    """The median over rounds of each round's ratio of column `col`."""
    ratios = round_ratios(kind, other_kind, c, col)
    return statistics.median(ratios) if ratios else None

def line(label, kind, c, against="", other_kind=None, target=""):
    rate = med(kind, c, 3)
    if rate is None:
        return
    other = med(other_kind, c, 3) if other_kind else None
    # The rounds' own ratios, and the spread their median hides: single
    # rounds differ by more than a tenth on these shared machines.
    ratios = round_ratios(kind, other_kind, c) if other_kind else []
    ratio = statistics.median(ratios) if ratios else None
    singles = " ".join(format(r, ".2f") for r in ratios)
    # CPU per request against the same reference, where both have it.
    cpu_ratio = round_ratio(kind, other_kind, c, 6) if other_kind else None
    print(f"| {label} | {c} | {fmt(rate, '.0f')} | {fmt(med(kind, c, 4), '.2f')} | "
          f"{fmt(med(kind, c, 5), '.2f')} | {fmt(med(kind, c, 6), '.1f')} | {fmt(med(kind, c, 7), '.1f')} | "
          f"{against} | {fmt(other, '.0f') if against else ''} | "
          f"{fmt(ratio, '.2f') if against else ''} | {singles} | {target} | "
          f"{fmt(cpu_ratio, '.2f') if against and cpu_ratio is not None else ''} |")

print("| server | connections | req/s | p50 ms | p99 ms | server CPU µs/req | wrk CPU µs/req "
      "| compared with | its rate | ratio (median of rounds') | single rounds' ratios | target | server CPU/req ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in conns:
    line("baseline axum route (fixed 201)", "baseline", c)
    line("baseline route on the server's workers (--workers), for reference", "baseline-workers", c)
    line("invitation-server, memory store", "memory", c, "baseline route", "baseline", "≥ 0.80")
    line("invitation-server, memory store, RUST_LOG=warn (no access log)", "memory-quiet", c, "baseline route", "baseline", "")
    line("invitation-server, memory store", "memory", c, "baseline route on workers", "baseline-workers", "")
    line(f"invitation-server, PostgreSQL (pool of {c})", "postgres", c,
         f"adapter, {c} callers on {c} connections", "adapter", "≥ 0.85")
    line("adapter (use case on PgStore), for reference", "adapter", c)
EOF
