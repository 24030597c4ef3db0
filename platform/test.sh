#!/usr/bin/env bash
# Set up and run the test suite against the local PostgreSQL and Redis (see README).
# Extra arguments go to pytest, e.g. platform/test.sh -k ingest
set -euo pipefail
cd "$(dirname "$0")/.."
platform/setup.sh test
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
