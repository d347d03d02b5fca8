#!/usr/bin/env bash
# Set up (scripts/setup.sh), start the services the tests use for real (scripts/services.sh:
# PostgreSQL from Debian's packages), and run every test and check (scripts/check.sh):
# ruff, mypy, forge fmt, forge test (unit, fuzz, invariants), slither, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TRACENODE_TEST_POSTGRES_URL=$(bash scripts/services.sh)
export TRACENODE_TEST_POSTGRES_URL
bash scripts/check.sh "$@"
