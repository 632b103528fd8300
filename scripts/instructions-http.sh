#!/usr/bin/env bash
# Instructions per POST create request, counted by callgrind (they do not
# move with machine load, unlike req/s): the baseline route and
# invitation-server on the memory store (access log on, as configured by
# default), each run under valgrind, warmed up, then counted over a wrk load
# of INSTR_SECS seconds on 4 connections. Prints instructions of the whole
# process divided by the requests wrk saw answered.
#
# Environment: INSTR_SECS (default 8); INSTR_KEEP=DIR copies the callgrind
# outputs (baseline.out.*, server.out.*, postgres.out.*) into DIR for
# callgrind_annotate; INSTR_DATABASE_URL=postgres://... adds a third row,
# the server on PostgreSQL (--database-url, a pool of 4, in a database
# made for the run on that server and dropped at the end; needs psql).
# CARGO_TARGET_DIR is honoured.
# Needs valgrind and wrk (installed from Debian if missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${INSTR_SECS:-8}"
token="instructions-token"
# shellcheck source=lib/http-load.sh
. "$root/scripts/lib/http-load.sh"
path="$http_path"

say() { echo "instructions-http: $*" >&2; }

work="$(mktemp -d)"
vg_pid=""
pg_db="instr_http_$$"
pg_admin="${INSTR_DATABASE_URL:-}"
cleanup() {
    [[ -n "$vg_pid" ]] && kill -KILL "$vg_pid" 2>/dev/null || true
    if [[ -n "$pg_admin" ]]; then
        psql "$pg_admin" -qAtc "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ -n "${INSTR_KEEP:-}" ]]; then
        cp "$work"/*.out.* "$INSTR_KEEP"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

for tool in valgrind wrk; do
    ensure_debian_tool "$tool" "$work/apt.log" || { say "cannot install $tool"; exit 1; }
done
say "building release binaries"
build_release_binaries
write_post_lua "$work/post.lua" "$token"

# count NAME CMD...: prints "NAME requests instructions per_request".
count() {
    local name=$1
    shift
    env INVITATION_BOOTSTRAP_TOKEN="$token" valgrind --tool=callgrind \
        --callgrind-out-file="$work/$name.out" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
    vg_pid=$!
    local url
    url="$(await_url "$work/$name.stdout" "$vg_pid" 60)" ||
        { cat "$work/$name.stderr" >&2; say "$name did not start"; exit 1; }
    wrk -t 1 -c 4 -d 3s -s "$work/post.lua" "$url$path" >/dev/null
    callgrind_control -z "$vg_pid" >/dev/null
    local requests
    requests="$(wrk -t 1 -c 4 -d "${secs}s" -s "$work/post.lua" "$url$path" |
        awk '/requests in/ { print $1 }')"
    callgrind_control -d "$vg_pid" >/dev/null
    sleep 1
    kill -KILL "$vg_pid" 2>/dev/null || true
    wait "$vg_pid" 2>/dev/null || true
    vg_pid=""
    local dump instructions
    dump="$(ls -t "$work/$name.out".* | head -n 1)"
    instructions="$(callgrind_annotate "$dump" 2>/dev/null |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')"
    echo "$name $requests $instructions $((instructions / requests))"
}

count baseline "$baseline_bin" --listen 127.0.0.1:0 --body-bytes 389 >"$work/rows"
count server "$server_bin" --listen 127.0.0.1:0 >>"$work/rows"
if [[ -n "$pg_admin" ]]; then
    psql "$pg_admin" -qAtc "CREATE DATABASE \"$pg_db\"" >/dev/null ||
        { say "cannot create database $pg_db"; exit 1; }
    # The same server, database name swapped into the URL's path.
    pg_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_admin" "$pg_db")"
    count postgres "$server_bin" --listen 127.0.0.1:0 --database-url "$pg_url" \
        --database-pool-size 4 >>"$work/rows"
fi

echo "POST $path under callgrind, wrk -t 1 -c 4 -d ${secs}s after a 3 s warm-up; $(date -u +%Y-%m-%d)"
echo
echo "| process | requests | instructions | per request |"
echo "|---|---|---|---|"
awk '{ printf "| %s | %d | %d | %d |\n", $1, $2, $3, $4 }' "$work/rows"
awk 'NR == 1 { b = $4 } NR == 2 { printf "\nratio server / baseline: %.2f\n", $4 / b }' "$work/rows"
