#!/usr/bin/env bash
# Set up and serve the platform in embedded mode: PostgreSQL from a pip wheel with its data in
# instance/postgres/ (each command below starts or joins it; it stops when the last one exits,
# so stopping this script stops it), tasks in-process, demo data seeded.
# Override with DATABASE_URL / REDIS_URL to run against real services.
set -euo pipefail
cd "$(dirname "$0")/.."
platform/setup.sh
export FLASK_APP=wsgi
port="${PORT:-5000}"
.venv/bin/flask db upgrade
.venv/bin/flask demo seed
echo
echo "碳普惠 platform on http://127.0.0.1:${port}"
echo "  resident app (H5):      http://127.0.0.1:${port}/app   (phone 13800000001, password demo-password-2026)"
echo "  public page:            http://127.0.0.1:${port}/public   (no sign-in)"
echo "  audit console:          http://127.0.0.1:${port}/console   (auditor 13900000001)"
echo "  API docs (interactive): http://127.0.0.1:${port}/api/v1/docs"
echo "  OpenAPI document:       http://127.0.0.1:${port}/api/v1/openapi.json"
echo "  health:                 http://127.0.0.1:${port}/healthz  /readyz"
[ -z "${DATABASE_URL:-}" ] && echo "  database:               embedded PostgreSQL in ${INSTANCE_PATH:-instance}/postgres/, stopped with this command"
echo
exec .venv/bin/flask run --host 127.0.0.1 --port "$port"
