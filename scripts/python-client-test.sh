#!/usr/bin/env bash
# Runs authentik's own Python API client (the `authentik-client` package)
# against invitation-server: builds and starts the server on a free port
# with a directory file (one user holding all four invitation permissions
# and an API token, and an enrollment flow), waits until it is ready, runs
# tests/python/authentik_client_roundtrip.py in the virtualenv
# .venv-pyclient (created and filled from tests/python/requirements.txt
# when needed), then stops the server with SIGTERM.
#
# Exit code: the script's; non-zero also when the server does not start or
# does not exit 0 on SIGTERM.
#
# Environment: PYTHON (default python3) makes the virtualenv;
# CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
venv="$root/.venv-pyclient"

work="$(mktemp -d)"
server_pid=""

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$server_pid" 2>/dev/null && ((waited < 300)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "python-client-test: the server did not stop on SIGTERM; killing it" >&2
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# 1. The virtualenv with authentik's client.
if [[ ! -x "$venv/bin/python" ]]; then
    echo "python-client-test: creating $venv"
    "$python" -m venv "$venv"
    # Keep it out of git, as Python 3.13's venv does by itself.
    echo '*' >"$venv/.gitignore"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/python/requirements.txt

# 2. The server binary.
cargo build --quiet -p invitation-server
target_dir="$(cargo metadata --format-version 1 --no-deps |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
binary="$target_dir/debug/invitation-server"

# 3. A directory file with a fresh token.
token="$("$python" -c 'import secrets; print(secrets.token_hex(32))')"
flow_pk="3fa85f64-5717-4562-b3fc-2c963f66afa6"
cat >"$work/directory.toml" <<EOF
[[users]]
pk = 7
username = "pyclient"
name = "authentik-client round trip"
email = "pyclient@example.org"
permissions = [
    "authentik_stages_invitation.add_invitation",
    "authentik_stages_invitation.view_invitation",
    "authentik_stages_invitation.change_invitation",
    "authentik_stages_invitation.delete_invitation",
]
tokens = ["$token"]

[[flows]]
pk = "$flow_pk"
slug = "default-enrollment-flow"
name = "Default enrollment"
title = "Welcome!"
designation = "enrollment"
EOF

# 4. Start it on a free port; its first line on stdout says where.
env -u INVITATION_DATABASE_URL -u INVITATION_BOOTSTRAP_TOKEN -u INVITATION_LISTEN \
    -u INVITATION_DIRECTORY RUST_LOG="${RUST_LOG:-warn}" \
    "$binary" --listen 127.0.0.1:0 --directory "$work/directory.toml" \
    >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

fail() {
    echo "python-client-test: $1" >&2
    cat "$work/stderr" >&2
    exit 1
}

# Sets $url once the server's first line is there.
get_url() {
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
    local line
    line="$(head -n 1 "$work/stdout" 2>/dev/null || true)"
    [[ "$line" == "invitation-server listening on "* ]] || return 1
    url="${line#invitation-server listening on }"
}

is_ready() {
    "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$url/-/health/ready/" 2>/dev/null
}

# Runs "$@" every 0.1 s until it succeeds, at most $1 times.
retry() {
    local tries=$1
    shift
    for _ in $(seq 1 "$tries"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

url=""
retry 300 get_url || fail "the server did not say where it listens"
retry 100 is_ready || fail "$url/-/health/ready/ never answered 200"

# 5. The round trip.
set +e
AUTHENTIK_URL="$url" AUTHENTIK_TOKEN="$token" AUTHENTIK_FLOW_PK="$flow_pk" \
    "$venv/bin/python" tests/python/authentik_client_roundtrip.py
status=$?
set -e

# 6. Stop the server; it must exit 0.
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
if ((server_status != 0)); then
    echo "python-client-test: the server exited $server_status on SIGTERM" >&2
    cat "$work/stderr" >&2
    ((status == 0)) && status=1
fi
exit "$status"
