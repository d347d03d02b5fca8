#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test and check (scripts/check.sh):
# ruff, mypy, forge fmt, forge test (unit, fuzz, invariants), slither, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh "$@"
