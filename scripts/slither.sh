#!/usr/bin/env bash
# slither on contracts/src, in a virtual environment of its own (.venv-slither): its
# dependencies pin an older web3 that must not leak into the node's environment.
# Fails on any finding of medium or high impact that is not triaged in docs/slither.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if [ ! -x .venv-slither/bin/slither ] || [ scripts/slither-constraints.txt -nt .venv-slither/.installed ]; then
  echo "==> slither venv (.venv-slither)"
  python3 -m venv .venv-slither
  .venv-slither/bin/python -m pip install --quiet --upgrade pip
  .venv-slither/bin/python -m pip install --quiet -r scripts/slither-constraints.txt
  touch .venv-slither/.installed
fi
# A build directory of its own: crytic-compile runs `forge clean`, which must not wipe out/.
export FOUNDRY_OUT=.slither/out FOUNDRY_CACHE_PATH=.slither/cache
.venv-slither/bin/slither . --config-file scripts/slither.config.json
