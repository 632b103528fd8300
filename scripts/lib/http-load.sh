# Sourced by scripts/bench-http.sh (not run): the request it sends,
# installing its tools, the release binaries it loads, and waiting for a
# server to start.

# The request: POST create, 91 bytes of body.
http_path="/api/v3/stages/invitation/invitations/"
http_body='{"name":"welcome-new-user","single_use":true,"fixed_data":{"email":"new.user@example.org"}}'

# ensure_debian_tool TOOL LOG [PACKAGE]: installs TOOL (Debian's package
# PACKAGE, by default named TOOL) if it is not on PATH (its apt output in
# LOG); returns non-zero if that fails.
ensure_debian_tool() {
    local tool=$1 log=$2 package=${3:-$1}
    command -v "$tool" >/dev/null 2>&1 && return 0
    echo "installing $package (apt-get)" >&2
    apt-get install -y "$package" >"$log" 2>&1 ||
        { apt-get update >>"$log" 2>&1 && apt-get install -y "$package" >>"$log" 2>&1; } ||
        { cat "$log" >&2; return 1; }
}

# build_release_binaries [server]: builds the server and the baseline route
# (release profile), or with `server` the server alone, and sets
# $target_dir, $server_bin and $baseline_bin.
build_release_binaries() {
    if [[ "${1:-}" == server ]]; then
        cargo build --release --quiet -p invitation-server --bin invitation-server
    else
        cargo build --release --quiet -p invitation-server -p invitation-benches \
            --bin invitation-server --bin baseline_server
    fi
    target_dir="$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    server_bin="$target_dir/release/invitation-server"
    baseline_bin="$target_dir/release/baseline_server"
}

# write_post_lua FILE TOKEN: the wrk script that sends the request with
# `Authorization: Bearer TOKEN`.
write_post_lua() {
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$http_body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
EOF
}

# await_url FILE PID [SECONDS]: prints the first http://127.0.0.1:PORT that
# FILE (the standard output of the server PID, emptied before it started)
# names, waiting up to SECONDS (default 30) for it to appear; returns
# non-zero if it does not, or at once if PID exits first.
await_url() {
    local file=$1 pid=$2 tries=$((${3:-30} * 10)) url=""
    for _ in $(seq 1 "$tries"); do
        url="$(grep -o 'http://127.0.0.1:[0-9]*' "$file" 2>/dev/null | head -n 1 || true)"
        [[ -n "$url" ]] && { echo "$url"; return 0; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# build_adapter_bench LOG: builds the adapter's benchmark (`--bench pg` of
# invitation-benches) once, to be run as a program (`cargo bench` on every
# load would rebuild it from whatever the sources are by then), and sets
# $pg_bench to it; returns non-zero (the build's output in LOG) if it fails.
build_adapter_bench() {
    pg_bench="$(cargo bench --quiet --no-run -p invitation-benches --bench pg \
        --message-format=json 2>"$1" |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pg" and m.get("executable"):
        print(m["executable"])')" && [[ -x "$pg_bench" ]]
}

# url_with_database URL NAME: URL with its database replaced by NAME.
url_with_database() {
    python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))' "$1" "$2"
}

# settle_pg URL: a checkpoint right before a measured PostgreSQL load, the
# server's and the adapter's alike. With max_wal_size reached every minute
# or so at these rates, a load that happens to start just after a
# checkpoint writes a full page image for every page it touches first, one
# that starts just before does not, and that alone moved single runs by a
# third.
settle_pg() {
    psql "$1" -qAtc 'CHECKPOINT' >/dev/null 2>&1 ||
        echo "CHECKPOINT refused at $1; loads not settled" >&2
}
