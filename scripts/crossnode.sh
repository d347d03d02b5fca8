#!/usr/bin/env bash
# Cross-node custody with real processes (slow, not in the default suite): two
# `tracenode serve` nodes, one on SQLite and one on PostgreSQL, on one anvil chain
# (tests/api/test_crossnode_serve.py). Needs TRACENODE_TEST_POSTGRES_URL (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRACENODE_TEST_POSTGRES_URL:-}" ]; then
    TRACENODE_TEST_POSTGRES_URL=$(bash scripts/services.sh)
    export TRACENODE_TEST_POSTGRES_URL
fi
exec .venv/bin/python -m pytest -q -m slow tests/api/test_crossnode_serve.py "$@"
