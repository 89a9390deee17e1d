#!/usr/bin/env bash
# Sets up Vigil if needed, then runs lint, type checks and the whole test suite.
# Tests need PostgreSQL on 127.0.0.1:5432 (trust auth); with CI=true a missing service fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check
.venv/bin/ruff format --check
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# One worker per core; a file's tests stay together (module fixtures such as the browser).
exec .venv/bin/pytest -q -p no:cacheprovider -n auto --dist loadfile "$@"
