#!/usr/bin/env bash
# Set up everything the node and its tests need, from a fresh clone, idempotently:
# npm packages (solc-js, Foundry binaries, OpenZeppelin, Swagger UI, noble) from package-lock.json,
# and a Python virtual environment (.venv) with the versions pinned in scripts/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/forge ] || [ ! -f node_modules/swagger-ui-dist/package.json ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci (solc-js, Foundry, OpenZeppelin, Swagger UI, noble)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Swagger UI for the node's /docs (api/routes/docs.py): npm's swagger-ui-dist, copied into
# the api package beside the buyer page's files so that the node serves it itself, offline.
mkdir -p api/static/swagger-ui
for file in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE; do
  if ! cmp -s "node_modules/swagger-ui-dist/$file" "api/static/swagger-ui/$file"; then
    cp "node_modules/swagger-ui-dist/$file" "api/static/swagger-ui/$file"
  fi
done

# The in-browser verifier's cryptography for /verify (api/routes/verify_page.py): npm's
# @noble/hashes and @noble/curves (pinned exactly), their ESM files copied into the api
# package with cross-package imports made relative, so that browsers load them from the node.
node scripts/vendor_js.mjs

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
