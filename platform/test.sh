#!/usr/bin/env bash
# Set up and run the test suite against the local PostgreSQL and Redis (see README).
# Extra arguments go to pytest, e.g. platform/test.sh -k ingest
set -euo pipefail
cd "$(dirname "$0")/.."
platform/setup.sh test
# The browser tests (playwright) drive Debian's Chromium; installing it needs root (else they skip).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will skip (fail under CI)" >&2
fi
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
