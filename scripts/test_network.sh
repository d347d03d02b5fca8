#!/usr/bin/env bash
# The network of nodes (docs/network.md), slow variants included: three real `tracenode
# serve` processes on a real anvil (node B on PostgreSQL), a lot moving from A to B and
# resolved from each, provenance across nodes (earlier and later parts, the page), impostors
# at B's URL, A and B killed; the two-node demo (`tracenode demo --network`); then the
# contracts' node registry tests. Expects scripts/setup.sh and a PostgreSQL for tests
# (TRACENODE_TEST_POSTGRES_URL, as scripts/services.sh prints it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
: "${TRACENODE_TEST_POSTGRES_URL:=$(bash scripts/services.sh)}"
export TRACENODE_TEST_POSTGRES_URL
python -m pytest -m "slow or not slow" tests/api/test_network.py \
    tests/api/test_provenance_network.py tests/api/test_demo_network.py \
    tests/node/network "$@"
forge test --match-contract NodeRegistryTest
