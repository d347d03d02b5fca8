#!/usr/bin/env bash
# Asynchronous EPCIS capture jobs across real process restarts (slow, not in the default
# suite): a job left mid-way by a stopped node and by a SIGKILLed `tracenode serve` is
# resumed by the next serve (tests/api/test_epcis_async.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q -m slow tests/api/test_epcis_async.py "$@"
