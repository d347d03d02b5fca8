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
step "pytest";              pytest "$@"
