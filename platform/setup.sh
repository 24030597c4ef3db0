#!/usr/bin/env bash
# Create .venv (if missing) and install the project with the given extras, e.g. "test".
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
# Quiet, but errors still show; the stamp skips a reinstall when pyproject.toml is unchanged.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e "$target" 2> >(grep -v "^WARNING: Location" >&2)
  touch "$stamp"
fi
# The message catalogues' .mo files are built here, not kept in git: from the .po files, every
# time (a fraction of a second), so an edited translation is never served stale.
.venv/bin/pybabel -q compile -d api/translations
