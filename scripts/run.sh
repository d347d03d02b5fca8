#!/usr/bin/env bash
# Set up (scripts/setup.sh), run the demo on the embedded chain, and serve the node with
# its buyer page: five participants sign a farm → dairy → cold chain → shop supply chain
# with a recall; the node checks and stores every event and commits them on-chain with
# Merkle proofs; then `tracenode serve` answers on http://127.0.0.1:8000 and this script
# prints the page to open. Ctrl-C stops the server.
#
#   bash scripts/run.sh               demo (another supply chain each run), then serve
#   bash scripts/run.sh --demo-only   the demo alone, no server
#   bash scripts/run.sh --serve-only  serve what the data directory holds, no new demo run
#
# The data directory is ./tracenode-data (TRACENODE_DATA_DIR to change it); the server
# listens on TRACENODE_HOST:TRACENODE_PORT (127.0.0.1:8000). Its keys are encrypted with
# TRACENODE_PASSWORD; when that is not set, a random password is made once and kept in
# DATA_DIR.password (mode 0600) — fine for a demo, not for production.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=1
serve=1
case "${1:-}" in
  "") ;;
  --demo-only) serve=0 ;;
  --serve-only) demo=0 ;;
  *) echo "usage: bash scripts/run.sh [--demo-only | --serve-only]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
data_dir=${TRACENODE_DATA_DIR:-tracenode-data}
host=${TRACENODE_HOST:-127.0.0.1}
port=${TRACENODE_PORT:-8000}
if [ -z "${TRACENODE_PASSWORD:-}" ]; then
  password_file="$data_dir.password"
  if [ ! -f "$password_file" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$password_file")
  fi
  TRACENODE_PASSWORD=$(cat "$password_file")
fi
export TRACENODE_PASSWORD

if [ "$demo" = 1 ]; then
  .venv/bin/tracenode demo --data-dir "$data_dir"
fi
[ "$serve" = 1 ] || exit 0
if [ ! -f "$data_dir/node.json" ]; then
  echo "no node in $data_dir: run bash scripts/run.sh without --serve-only first" >&2
  exit 1
fi

case "$host" in 0.0.0.0 | :: | "[::]") shown=127.0.0.1 ;; *) shown=$host ;; esac
base="http://$shown:$port"
.venv/bin/tracenode serve --data-dir "$data_dir" --host "$host" --port "$port" --log-level warning &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' INT TERM

# Wait until the node answers, then name the demo's latest cheese (made from a recalled
# lot) and that lot, by the URLs their labels' QR codes carry.
if ! .venv/bin/python - "$base" "$data_dir" "$server" <<'EOF'
import json
import os
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from node.events.identifiers import parse_identifier
from node.labels import label_url

base, data_dir, server = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + 120
while True:
    try:
        os.kill(server, 0)
    except OSError:
        sys.exit(1)  # the server stopped (its error is above)
    try:
        if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
            break
    except httpx.TransportError:
        pass
    if time.monotonic() > deadline:
        print(f"the node did not answer at {base} in 120 s", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.3)
print(f"\nTraceNode is serving {data_dir} at {base}  (Ctrl-C stops it)\n")
bundles = sorted((data_dir / "bundles").glob("*.json"), key=lambda p: p.stat().st_mtime)
if bundles:
    batches = json.loads(bundles[-1].read_text())["batches"]
    cheese, *milk = (b["identifier"] for b in batches if b["identifier"])
    recalled = [
        m for m in milk
        if httpx.get(f"{base}/v1/batches/{quote(m, safe='')}", timeout=10).json().get("status") == "RECALLED"
    ]
    print("Open the demo's cheese (made from a recalled lot of milk):")
    print(f"  {label_url(parse_identifier(cheese), base)}")
    for lot in recalled:
        print("The recalled milk, and where it went:")
        print(f"  {label_url(parse_identifier(lot), base)}")
    # The demo's own commands open the chain, which the server now holds: these go
    # through the server instead.
    print("\nWhile it serves, check the cheese's proofs through it (from another shell):")
    print(f"  .venv/bin/tracenode verify {shlex.quote(str(bundles[-1]))} --rpc {base}/rpc")
    print(f"  curl -s {base}/v1/batches/{quote(cheese, safe='')}/provenance | jq .outcome")
print(f"\nOr type any batch identifier at {base}/  ·  API: {base}/docs\n", flush=True)
EOF
then
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  exit 1
fi
wait "$server"
