#!/usr/bin/env bash
# Asynchronous EPCIS capture jobs across real process restarts (slow, not in the default
# suite): a job left mid-way by a stopped node and by a SIGKILLed `tracenode serve` is
# resumed by the next serve (tests/api/test_epcis_async.py).
# Needs TRACENODE_TEST_POSTGRES_URL (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRACENODE_TEST_POSTGRES_URL:-}" ]; then
    TRACENODE_TEST_POSTGRES_URL=$(bash scripts/services.sh)
    export TRACENODE_TEST_POSTGRES_URL
fi
exec .venv/bin/python -m pytest -q -m slow tests/api/test_epcis_async.py "$@"
