#!/usr/bin/env bash
# Where the time of a POST create goes, not only its instructions: the
# baseline route and invitation-server on the memory store (access log on,
# as configured by default), each sampled by `perf record -e cpu-clock` (a
# software clock, so it works on machines without hardware counters)
# during a wrk load, after a warm-up, the two alternating round by round.
# Prints, per answered request, the CPU time each side spent in user space
# and in the kernel, then the symbols whose time per request grew most from
# the baseline to the server.
#
# Instructions (scripts/instructions-http.sh) do not move with machine load
# but miss what the time does: cache misses, cache lines passed between
# cores, the kernel's share. This is what req/s pays. Sampling costs CPU
# itself, so every figure is somewhat above what the benchmark's CPU
# columns print; compare the two sides, not with other tools.
#
# Environment: PROFILE_SECS (seconds sampled per load, default 8),
# PROFILE_CONNECTIONS (default 16), PROFILE_ROUNDS (default 2), PROFILE_TOP
# (symbols listed, default 30). Needs perf (Debian's linux-perf) and wrk,
# installed from Debian if missing. CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${PROFILE_SECS:-8}"
connections="${PROFILE_CONNECTIONS:-16}"
rounds="${PROFILE_ROUNDS:-2}"
top="${PROFILE_TOP:-30}"
frequency=4999
token="profile-token"
# shellcheck source=lib/http-load.sh
. "$root/scripts/lib/http-load.sh"
path="$http_path"

say() { echo "time-profile-http: $*" >&2; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ensure_debian_tool wrk "$work/apt.log" || { say "cannot install wrk"; exit 1; }
ensure_debian_tool perf "$work/apt.log" linux-perf || { say "cannot install perf"; exit 1; }
say "building release binaries"
build_release_binaries
write_post_lua "$work/post.lua" "$token"

# sample NAME ROUND CMD...: one load of CMD under perf; appends
# "NAME DATA_FILE REQUESTS" to $work/loads.
sample() {
    local name=$1 round=$2
    shift 2
    # Emptied before the fork: the child's own redirection truncates only
    # once it runs, and until then the last round's port would be read.
    : >"$work/$name.stdout"
    env INVITATION_BOOTSTRAP_TOKEN="$token" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
    server_pid=$!
    local url
    url="$(await_url "$work/$name.stdout" "$server_pid")" ||
        { cat "$work/$name.stderr" >&2; say "$name did not start"; exit 1; }
    wrk -t 2 -c "$connections" -d 2s -s "$work/post.lua" "$url$path" >/dev/null
    local data="$work/$name.$round.data"
    perf record -q -e cpu-clock -F "$frequency" -p "$server_pid" -o "$data" -- sleep "$secs" \
        2>"$work/perf.stderr" &
    local perf_pid=$!
    local requests
    requests="$(wrk -t 2 -c "$connections" -d "${secs}s" -s "$work/post.lua" "$url$path" |
        awk '/requests in/ { print $1 }')"
    wait "$perf_pid" || { cat "$work/perf.stderr" >&2; say "perf record failed"; exit 1; }
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    say "round $round, $name: $((requests / secs)) req/s"
    echo "$name $data $requests" >>"$work/loads"
}

for round in $(seq 1 "$rounds"); do
    sample baseline "$round" "$baseline_bin" --listen 127.0.0.1:0 --body-bytes 389
    sample server "$round" "$server_bin" --listen 127.0.0.1:0
done

echo "POST $path, wrk -t 2 -c $connections, $rounds round(s) of ${secs} s under perf record -e cpu-clock -F $frequency; $(date -u +%Y-%m-%d)"
echo
python3 - "$work/loads" "$frequency" "$top" <<'PY'
import collections, re, subprocess, sys

loads, frequency, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = {"baseline": collections.Counter(), "server": collections.Counter()}
requests = collections.Counter()
line_re = re.compile(r"\s*[\d.]+%\s+(\d+)\s+\[(.)\]\s+(.*\S)")
for row in open(loads):
    name, data, count = row.split()
    requests[name] += int(count)
    report = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "-n", "--no-children", "--sort", "sym"],
        capture_output=True, text=True, check=True,
    ).stdout
    for line in report.splitlines():
        m = line_re.match(line)
        if m:
            samples, space, symbol = int(m.group(1)), m.group(2), m.group(3)
            seconds[name][(space == "k", symbol)] += samples / frequency

def per_request(name, key):
    return seconds[name][key] / requests[name] * 1e6

print("| side | requests | user µs/req | kernel µs/req | total µs/req |")
print("|---|---|---|---|---|")
for name in ("baseline", "server"):
    user = sum(v for (k, _), v in seconds[name].items() if not k) / requests[name] * 1e6
    kernel = sum(v for (k, _), v in seconds[name].items() if k) / requests[name] * 1e6
    print(f"| {name} | {requests[name]} | {user:.2f} | {kernel:.2f} | {user + kernel:.2f} |")
print()
print(f"The {top} symbols whose time per request grew most (µs per request):")
print()
print("| server − baseline | baseline | server | space | symbol |")
print("|---|---|---|---|---|")
keys = set(seconds["baseline"]) | set(seconds["server"])
rows = sorted(
    ((per_request("server", k) - per_request("baseline", k), k) for k in keys),
    reverse=True,
)
for growth, key in rows[:top]:
    kernel, symbol = key
    symbol = symbol.replace("|", "\\|")
    print(
        f"| {growth:.3f} | {per_request('baseline', key):.3f} | {per_request('server', key):.3f}"
        f" | {'kernel' if kernel else 'user'} | `{symbol[:120]}` |"
    )
PY
