#!/usr/bin/env bash
# Install (from Debian's packages) and start the services the tests use for real:
# PostgreSQL 15; and install Chromium with its WebDriver (the buyer page's browser tests,
# tests/web), zbarimg (decodes the QR codes they photograph) and jq (the README's curl
# session, run by tests/sdk). Idempotent. Prints the
# database URL the tests read from TRACENODE_TEST_POSTGRES_URL (set by scripts/test.sh).
set -euo pipefail
# Everything but the URL goes to stderr: pg_ctlcluster and psql print to stdout
# ("Removed stale pid file." once broke CI by landing in the URL). fd 3 is the caller's pipe,
# which test.sh reads with $(...) until EOF: the commands below run with it closed, since the
# PostgreSQL server they start outlives this script (holding fd 3, it once hung CI 90 minutes).
exec 3>&1 1>&2
{
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql ]; then
  echo "==> apt-get install postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
  || ! command -v zbarimg >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1; then
  echo "==> apt-get install chromium chromium-driver zbar-tools jq" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver zbar-tools fonts-dejavu-core jq >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >/dev/null
  fi
  echo "==> starting PostgreSQL $version" >&2
  pg_ctlcluster "$version" main start </dev/null
fi
# A superuser role for the user running the tests, over the local socket (peer auth).
me=$(id -un)
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1; then
  su postgres -c "psql -q -c 'CREATE ROLE \"$me\" SUPERUSER LOGIN'"
fi
} 3>&-
echo "postgresql+psycopg://$me@/postgres?host=/var/run/postgresql" >&3
