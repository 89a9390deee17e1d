#!/usr/bin/env bash
# Sets up Vigil if needed, then runs the demo: simulated cameras, server and recorder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/vigil demo "$@"
