#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the node with its demo on the embedded chain:
# five participants sign a farm → dairy → cold chain → shop supply chain with a recall;
# the node checks and stores every event and commits them on-chain with Merkle proofs.
#
# The data directory is ./tracenode-data (TRACENODE_DATA_DIR to change it). Its keys are
# encrypted with TRACENODE_PASSWORD; when that is not set, a random password is made once
# and kept in DATA_DIR.password (mode 0600) — fine for a demo, not for production.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data_dir=${TRACENODE_DATA_DIR:-tracenode-data}
if [ -z "${TRACENODE_PASSWORD:-}" ]; then
  password_file="$data_dir.password"
  if [ ! -f "$password_file" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$password_file")
  fi
  TRACENODE_PASSWORD=$(cat "$password_file")
fi
export TRACENODE_PASSWORD
exec .venv/bin/tracenode demo --data-dir "$data_dir" "$@"
