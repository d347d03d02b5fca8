#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the node on the embedded chain.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tracenode deploy "$@"
