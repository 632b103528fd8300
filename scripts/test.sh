#!/usr/bin/env bash
# Runs every test of the project:
#   1. the Rust workspace (`cargo test --workspace`): unit, conformance, HTTP
#      over a real port, the server binary, and the PostgreSQL suites against
#      a real server;
#   2. authentik's own API clients against the server, the Python one
#      (PyPI) and the TypeScript one (npm), and the server's answers against
#      its OpenAPI document: scripts/client-tests.sh.
#
# PostgreSQL: scripts/pg-ensure.sh makes it answer (starting, or as root
# installing, a local cluster) and gives the URL the tests use. Where that
# fails outside CI, the PostgreSQL tests print one line saying they skipped;
# with CI set, this script fails instead.
#
# SMTP: invitation-mail's tests (and any that deliver mail) run
# scripts/smtp-sink.py, an aiosmtpd server, under the Python of the
# virtualenv .venv-smtp (made and filled from
# scripts/smtp-sink.requirements.txt when needed), named to them by
# INVITATION_TEST_SMTP_PYTHON. PYTHON (default python3) makes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if url="$(bash scripts/pg-ensure.sh)"; then
    export INVITATION_TEST_DATABASE_URL="$url"
elif [ -n "${CI:-}" ]; then
    echo "test: PostgreSQL is not available, and CI is set" >&2
    exit 1
else
    echo "test: PostgreSQL is not available; its tests will say they skipped" >&2
fi

venv=.venv-smtp
if [[ ! -x "$venv/bin/python" ]]; then
    echo "test: creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
    # Keep it out of git, as Python 3.13's venv does by itself.
    echo '*' >"$venv/.gitignore"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r scripts/smtp-sink.requirements.txt
INVITATION_TEST_SMTP_PYTHON="$(pwd)/$venv/bin/python"
export INVITATION_TEST_SMTP_PYTHON

# --all-features: both backends of invitation-sqlx (its default is SQLite only).
cargo test --workspace --all-features
bash scripts/client-tests.sh
