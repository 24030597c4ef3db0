#!/usr/bin/env bash
# Set up and run the test suite against PostgreSQL and Redis (see README).
# Extra arguments go to pytest, e.g. platform/test.sh -k ingest
# When no PostgreSQL answers at TEST_DATABASE_URL (and CI is not true), the run gets an
# embedded one from the pip wheel, in a throwaway directory removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
platform/setup.sh test
# The browser tests (playwright) drive Debian's Chromium; installing it needs root (else they skip).
# A Chinese font too, so the screenshots they keep in test-artifacts/ are legible (tests pass without).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then missing+=(fonts-noto-cjk); fi
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}: without chromium the browser tests skip (fail under CI)" >&2
fi

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
answers() {
  .venv/bin/python -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' "$1" 2>/dev/null
}
ci="${CI:-}"
# Under CI=true a missing server fails the run instead (tests/conftest.py).
if [[ ! "${ci,,}" =~ ^(1|true|yes)$ ]] && ! answers "$TEST_DATABASE_URL"; then
  pgdata=$(mktemp -d -t bz-test-postgres.XXXXXX)
  trap '.venv/bin/python -m config.embedded_postgres stop "$pgdata"; rm -rf "$pgdata"' EXIT
  trap 'exit 130' INT   # a signal becomes a normal exit, so the EXIT trap stops the server
  trap 'exit 143' TERM
  echo "no PostgreSQL answers at $TEST_DATABASE_URL: starting an embedded one in $pgdata"
  TEST_DATABASE_URL=$(.venv/bin/python -m config.embedded_postgres start "$pgdata")
fi
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
