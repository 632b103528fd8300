#!/usr/bin/env bash
# Makes a local PostgreSQL (15+, Debian's packages) answer at the test URL, and
# prints that URL on stdout (everything else goes to stderr):
#
#   export INVITATION_TEST_DATABASE_URL="$(bash scripts/pg-ensure.sh)"
#
# The URL is $INVITATION_TEST_DATABASE_URL, by default
# postgres://postgres@127.0.0.1:5432/postgres. When it already answers, nothing
# is touched. Otherwise, as root: installs `postgresql` if absent, creates a
# cluster on the URL's port if none has it, lets loopback connections in
# without a password (trust on 127.0.0.1/32 and ::1/128 — meant for CI and
# throw-away machines), starts or reloads the cluster, and waits for it.
set -euo pipefail

url="${INVITATION_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
log() { printf 'pg-ensure: %s\n' "$*" >&2; }

answers() { command -v psql >/dev/null 2>&1 && psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if answers; then
    log "PostgreSQL answers at the test URL"
    printf '%s\n' "$url"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL does not answer at the test URL, and setting it up needs root"
    exit 1
fi

# The port of the URL (postgres://user[:pw]@host[:port]/db).
hostport="${url#*://}"
hostport="${hostport#*@}"
hostport="${hostport%%/*}"
port=5432
case "$hostport" in
    *:*) port="${hostport##*:}" ;;
esac

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "installing postgresql from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

# The cluster on that port, or a new one.
read -r version cluster < <(pg_lsclusters -h | awk -v p="$port" '$3 == p { print $1, $2; exit }') || true
if [ -z "${version:-}" ]; then
    version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
    cluster=main
    if pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
        cluster="test$port"
    fi
    log "creating cluster $version/$cluster on port $port"
    pg_createcluster "$version" "$cluster" -p "$port" >&2
fi

hba="/etc/postgresql/$version/$cluster/pg_hba.conf"
if ! grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "trusting loopback connections in $hba"
    # First lines win in pg_hba.conf.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi

if pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 == "online" { found = 1 } END { exit !found }'; then
    log "reloading cluster $version/$cluster"
    pg_ctlcluster "$version" "$cluster" reload >&2
else
    log "starting cluster $version/$cluster"
    pg_ctlcluster "$version" "$cluster" start >&2
fi

for _ in $(seq 1 30); do
    if answers; then
        log "PostgreSQL $version/$cluster answers on port $port"
        printf '%s\n' "$url"
        exit 0
    fi
    sleep 1
done
log "PostgreSQL still does not answer at the test URL"
exit 1
