#!/usr/bin/env bash
# HTTP benchmark: POST create with wrk, all on loopback, all in one run.
#
# By default, at 16 and 64 connections:
#
#   baseline  one axum route that reads the body and answers a fixed 201
#             body of the same size as the server's
#             (benches/src/bin/baseline_server.rs);
#   memory    invitation-server on the in-memory store;
#   postgres  invitation-server on PostgreSQL (--database-url);
#   adapter   the adapter alone at the same concurrency: the `create` part
#             of `cargo bench -p invitation-benches --bench pg`, without
#             pgbench.
#
# With BENCH_HTTP_COMPARE=<git rev>, instead: the server built at that
# revision (in a temporary git worktree, release profile, its own target
# directory target/bench-compare) against the current one, on the memory
# store and on PostgreSQL, the two alternating on the same load in every
# round; prints each one's req/s and p50/p99 and the ratio new / old.
#
# Builds release binaries, installs wrk from Debian if it is missing, starts
# a fresh server on a free port for every load (so no load inherits the
# invitations another stored), warms it up with the same load (not counted),
# runs the loads round by round, and prints a table: req/s, p50 and p99 as
# medians over the rounds, and each ratio as the median of the rounds' own
# ratios (listed beside it: the two sides of a pair run seconds apart, so
# drift in the machine's load cancels). A PostgreSQL load, the server's or
# the adapter's, starts right after a CHECKPOINT. Prints figures only: the
# exit code is non-zero only when something could not run, or when a
# request was not answered 2xx.
#
# Environment:
#   INVITATION_BENCH_DATABASE_URL  PostgreSQL (default
#                                  postgres://postgres@127.0.0.1:5432/postgres);
#                                  a database bench_http_<pid> is made on that
#                                  server for the run and dropped at the end
#   BENCH_HTTP_COMPARE             a git revision to compare the server with
#   BENCH_HTTP_SECS                seconds per load (default 10)
#   BENCH_HTTP_WARMUP_SECS         seconds of uncounted load before each
#                                  one, same connections (default 2)
#   BENCH_HTTP_ROUNDS              rounds (default 3)
#   BENCH_HTTP_CONNECTIONS         connection counts (default "16 64")
#   BENCH_HTTP_THREADS             wrk threads (default 2)
#   BENCH_HTTP_SKIP_PG=1           no PostgreSQL loads
#   RUST_LOG                       the server's log filter (default: the
#                                  server's own)
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

db_url="${INVITATION_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
compare="${BENCH_HTTP_COMPARE:-}"
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
old_tree=""

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
    if [[ -n "$old_tree" ]]; then
        git -C "$root" worktree remove --force "$old_tree" >/dev/null 2>&1 ||
            say "could not remove the worktree $old_tree"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. wrk (Debian's package).
ensure_debian_tool wrk "$work/apt.log" || die "cannot install wrk"

# 2. Release binaries: the current ones, and with BENCH_HTTP_COMPARE the
# server at that revision.
say "building release binaries"
if [[ -n "$compare" ]]; then
    build_release_binaries server
    old_rev="$(git -C "$root" rev-parse --verify --quiet "$compare^{commit}")" ||
        die "BENCH_HTTP_COMPARE=$compare is not a revision of this repository"
    old_tree="$work/old-src"
    git -C "$root" worktree add --quiet --detach "$old_tree" "$old_rev" ||
        die "cannot check out $old_rev in $old_tree"
    old_target="$target_dir/bench-compare"
    say "building the server at ${old_rev:0:12} (target directory target/bench-compare)"
    (cd "$old_tree" && CARGO_TARGET_DIR="$old_target" cargo build --release --quiet \
        -p invitation-server --bin invitation-server) ||
        die "cannot build the server at ${old_rev:0:12}"
    old_bin="$old_target/release/invitation-server"
else
    build_release_binaries
fi

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

# Runs wrk against the server; prints "req/s p50_ms p99_ms".
load() {
    local url=$1 conns=$2 out
    out="$(wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 10s --latency \
        -s "$work/post.lua" "$url$path")"
    echo "$out" >>"$work/wrk.log"
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        echo "$out" >&2
        die "some requests to $url were not answered 2xx"
    fi
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /^Requests\/sec:/ { rate = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        END { printf "%.0f %.3f %.3f\n", rate, p50, p99 }
    ' <<<"$out"
}

# 3. The database for the PostgreSQL loads.
server_db_url=""
if [[ "$skip_pg" != 1 ]]; then
    command -v psql >/dev/null 2>&1 || die "psql is needed for the PostgreSQL loads (or BENCH_HTTP_SKIP_PG=1)"
    admin_url="$db_url"
    psql "$admin_url" -qAtc 'SELECT 1' >/dev/null || die "PostgreSQL not reachable at $db_url (or BENCH_HTTP_SKIP_PG=1)"
    bench_db="bench_http_$$"
    psql "$admin_url" -qAtc "CREATE DATABASE \"$bench_db\"" >/dev/null
    server_db_url="$(url_with_database "$db_url" "$bench_db")"
fi

# Starts a server of one kind (fresh for every load, so no load inherits
# another's stored invitations): sets $url and $pid.
#   memory, old-memory      the server (current, or at BENCH_HTTP_COMPARE)
#                           on the memory store
#   postgres, old-postgres  the same on the database made above, in a new
#                           schema (an empty table) each time, with a pool
#                           of as many connections as the load opens
#                           ($conns), as the adapter's run has
#   baseline                the baseline route, answering $body_bytes bytes
pg_loads=0
start_kind() {
    local bin=$server_bin
    [[ "$1" == old-* ]] && bin=$old_bin
    case "$1" in
    memory) start "$1" "${server_env[@]}" "$bin" --listen 127.0.0.1:0 --memory ;;
    old-memory)
        # A revision from before --memory kept invitations in memory by default.
        local memory=()
        [[ "$("$bin" --help)" == *--memory* ]] && memory=(--memory)
        start "$1" "${server_env[@]}" "$bin" --listen 127.0.0.1:0 "${memory[@]}"
        ;;
    postgres | old-postgres)
        pg_loads=$((pg_loads + 1))
        start "$1" "${server_env[@]}" "$bin" --listen 127.0.0.1:0 --database-url "$server_db_url" \
            --database-schema "http_load_$pg_loads" --database-pool-size "$conns"
        ;;
    baseline) start "$1" "$baseline_bin" --listen 127.0.0.1:0 --body-bytes "$body_bytes" ;;
    *) die "unknown kind $1" ;;
    esac
    url="$started_url"
    pid="$started_pid"
    [[ "$1" == baseline ]] || wait_ready "$url"
}

# 4. Each server answers 201; the baseline's body is as long as the server's.
body_bytes=0
start_kind memory
body_bytes="$(probe "$url")"
stop_pid "$pid"
if [[ -n "$compare" ]]; then
    start_kind old-memory
    old_bytes="$(probe "$url")"
    stop_pid "$pid"
    say "201 body: $body_bytes bytes, at ${old_rev:0:12}: $old_bytes bytes"
else
    start_kind baseline
    baseline_bytes="$(probe "$url")"
    stop_pid "$pid"
    [[ "$baseline_bytes" == "$body_bytes" ]] || die "baseline body $baseline_bytes bytes, server's $body_bytes"
    say "201 body: $body_bytes bytes, server and baseline alike"
fi

if [[ -n "$server_db_url" && -z "$compare" ]]; then
    say "building the adapter benchmark"
    build_adapter_bench "$work/pg-build.log" ||
        { cat "$work/pg-build.log" >&2; die "cannot build the adapter benchmark"; }
fi

say "loads: ${secs}s each, $rounds round(s), connections: $connections, wrk threads: $threads"

# One load of one kind on a fresh server; appends to the results.
run_kind() {
    local kind=$1 conns=$2 round=$3 rate p50 p99
    start_kind "$kind"
    # Warm-up, not counted: connections opened (wrk's, and the server's
    # pooled PostgreSQL ones), code and caches hot.
    wrk -t "$threads" -c "$conns" -d "${warmup}s" --timeout 10s -s "$work/post.lua" \
        "$url$path" >/dev/null
    [[ "$kind" == *postgres ]] && settle_pg "$admin_url"
    read -r rate p50 p99 < <(load "$url" "$conns")
    stop_pid "$pid"
    if [[ "$kind" == *postgres ]]; then
        # Gone before the next load, as the adapter's schema is: no
        # earlier table left for autovacuum to work on.
        psql "$server_db_url" -qAtc "DROP SCHEMA \"http_load_$pg_loads\" CASCADE" >/dev/null 2>&1
    fi
    say "round $round, $conns connections, $kind: $rate req/s, p50 $p50 ms, p99 $p99 ms"
    echo "$kind $conns $round $rate $p50 $p99" >>"$work/results"
}

# The adapter's own create rate at the same concurrency: the create part of
# the pg bench, without pgbench.
run_adapter() {
    local conns=$1 round=$2 rate p50 p99
    settle_pg "$admin_url"
    INVITATION_BENCH_DATABASE_URL="$db_url" INVITATION_BENCH_PARTS=create \
        INVITATION_BENCH_CLIENTS="$conns" INVITATION_BENCH_SECS="$secs" \
        INVITATION_BENCH_ROUNDS=1 INVITATION_BENCH_ADAPTERS=postgres PGBENCH=none \
        "$pg_bench" --bench >"$work/pg-bench.log" 2>&1 ||
        { cat "$work/pg-bench.log" >&2; die "the adapter benchmark failed"; }
    IFS=, read -r _ _ _ rate _ _ p50 p99 < <(grep -m1 '^summary,create,' "$work/pg-bench.log")
    say "round $round, $conns callers, adapter: $rate creates/s, p50 $p50 ms, p99 $p99 ms"
    echo "adapter $conns $round $rate $p50 $p99" >>"$work/results"
}

# Runs the pair $1 and $2 in that order in odd rounds, reversed in even
# ones.
run_pair() {
    local first=$1 second=$2 conns=$3 round=$4 kind
    if ((round % 2 == 0)); then
        first=$2 second=$1
    fi
    for kind in "$first" "$second"; do
        if [[ "$kind" == adapter ]]; then
            run_adapter "$conns" "$round"
        else
            run_kind "$kind" "$conns" "$round"
        fi
    done
}

# 5. The loads, round by round; each pair alternates its order.
# results: kind conns round rate p50 p99
: >"$work/results"
for round in $(seq 1 "$rounds"); do
    for conns in $connections; do
        if [[ -n "$compare" ]]; then
            run_pair memory old-memory "$conns" "$round"
            if [[ -n "$server_db_url" ]]; then
                run_pair postgres old-postgres "$conns" "$round"
            fi
        else
            run_pair baseline memory "$conns" "$round"
            if [[ -n "$server_db_url" ]]; then
                run_pair postgres adapter "$conns" "$round"
            fi
        fi
    done
done

# 6. The table.
echo
echo "POST $path, wrk -t $threads -c N -d ${secs}s --latency, $rounds round(s), medians over rounds;" \
    "$(date -u +%Y-%m-%d), $(nproc) cores"
echo "201 body: $body_bytes bytes; request body: ${#body} bytes"
if [[ -n "$compare" ]]; then
    echo "new: the working tree ($(git -C "$root" rev-parse --short HEAD)); old: ${old_rev:0:12} ($compare)"
fi
echo
python3 - "$work/results" "$connections" "${compare:+compare}" <<'EOF'
import statistics, sys
# kind conns round rate p50 p99
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
conns = sys.argv[2].split()
compare = sys.argv[3] == "compare"

def med(kind, c, col):
    values = [float(r[col]) for r in rows if r[0] == kind and r[1] == c]
    return statistics.median(values) if values else None

def fmt(v, spec):
    return "—" if v is None else format(v, spec)

def round_ratios(kind, other_kind, c):
    """Each round's req/s of `kind` over `other_kind`'s, in round order."""
    rates = {(r[0], r[2]): float(r[3]) for r in rows if r[1] == c}
    rounds = sorted({int(r[2]) for r in rows})
    return [rates[(kind, str(n))] / rates[(other_kind, str(n))] for n in rounds
            if (kind, str(n)) in rates and (other_kind, str(n)) in rates]

def figures(kind, c):
    return f"{fmt(med(kind, c, 3), '.0f')} | {fmt(med(kind, c, 4), '.2f')} | {fmt(med(kind, c, 5), '.2f')}"

def ratio(kind, other_kind, c):
    ratios = round_ratios(kind, other_kind, c)
    median = fmt(statistics.median(ratios), ".2f") if ratios else "—"
    return f"{median} | {' '.join(format(r, '.2f') for r in ratios)}"

if compare:
    print("| store | connections | new req/s | p50 ms | p99 ms | old req/s | p50 ms | p99 ms "
          "| new / old (median of rounds') | single rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in conns:
        for label, kind in (("memory", "memory"), ("PostgreSQL", "postgres")):
            if med(kind, c, 3) is not None:
                print(f"| {label} | {c} | {figures(kind, c)} | {figures('old-' + kind, c)} "
                      f"| {ratio(kind, 'old-' + kind, c)} |")
else:
    print("| load | connections | req/s | p50 ms | p99 ms | ratio to | ratio (median of rounds') | single rounds |")
    print("|---|---|---|---|---|---|---|---|")
    for c in conns:
        for label, kind, other, other_label in (
            ("baseline route (fixed 201)", "baseline", None, ""),
            ("invitation-server, memory store", "memory", "baseline", "baseline route"),
            (f"invitation-server, PostgreSQL (pool of {c})", "postgres", "adapter", "adapter"),
            (f"adapter alone ({c} callers on {c} connections)", "adapter", None, ""),
        ):
            if med(kind, c, 3) is None:
                continue
            tail = f"{other_label} | {ratio(kind, other, c)}" if other else " | | "
            print(f"| {label} | {c} | {figures(kind, c)} | {tail} |")
EOF
