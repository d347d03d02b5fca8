#!/usr/bin/env bash
# The quality gate: lint, format, types, contracts (forge fmt, forge test, slither), pytest.
# Expects scripts/setup.sh to have run. FOUNDRY_PROFILE=ci runs the heavier fuzz profile.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"

step() { echo; echo "==> $*"; }

step "ruff check";          ruff check .
step "ruff format --check"; ruff format --check .
step "mypy --strict";       mypy
step "forge fmt --check";   forge fmt --check
step "forge test (profile ${FOUNDRY_PROFILE:-default})"
forge test
step "slither";             bash scripts/slither.sh
# Two worker processes (pytest-xdist): most tests wait on servers, chains and browsers,
# so two share the two cores well (16.5 min alone, 12 min in two: docs/development.md).
step "pytest";              pytest -n "${TRACENODE_TEST_WORKERS:-2}" "$@"
