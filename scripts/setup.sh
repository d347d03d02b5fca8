#!/usr/bin/env bash
# Set up everything the node and its tests need, from a fresh clone, idempotently:
# npm packages (solc-js, Foundry binaries, OpenZeppelin) from package-lock.json, and a
# Python virtual environment (.venv) with the versions pinned in scripts/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/forge ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci (solc-js, Foundry, OpenZeppelin)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> python venv (.venv)"
  python3 -m venv .venv
fi
stamp=.venv/.tracenode-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/constraints.txt -nt "$stamp" ]; then
  echo "==> pip install (pinned by scripts/constraints.txt)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e ".[dev]"
  touch "$stamp"
fi
