#!/usr/bin/env bash
# Retake the screenshots docs/web.md shows (docs/img/web-*.png): the browser tests of the
# buyer page and of the verifier page (tests/web) run against a fresh demo node in headless
# Chromium and save them.
# Needs scripts/setup.sh and Chromium (scripts/services.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
TRACENODE_DOCS_IMG=docs/img .venv/bin/pytest tests/web/test_page.py tests/web/test_verify_page.py tests/web/test_lookup.py -q "$@"
ls -l docs/img/web-*.png
