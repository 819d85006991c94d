#!/usr/bin/env bash
# Installs the packages, builds with tests, starts a fresh private PostgreSQL cluster
# (var/test-pg, port 54330, no fsync) and runs every test with ctest. The cluster is stopped
# on exit; its log stays in var/test-pg/postgres.log until the next run wipes it.
# Exits with ctest's status.
#
# Usage: tools/dev/test.sh [CTEST_ARG...]
#   CTEST_ARG  passed to ctest after the defaults, for example -R FlowTest or -V
#
# Environment:
#   ACCESSDELEGATION_TEST_TIMEOUT  seconds one test may run before ctest kills it
#                                  (default 600; a test's own TIMEOUT property wins)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly PG_DIR="var/test-pg"
readonly PG_PORT=54330

cd "${REPO_ROOT}"
tools/dev/install-deps.sh
tools/dev/build.sh
buf="$(ensure_buf)"

tools/dev/pg.sh remove "${PG_DIR}"
trap 'tools/dev/pg.sh stop "${PG_DIR}" || true' EXIT
tools/dev/pg.sh start "${PG_DIR}" "${PG_PORT}" --fsync-off

export ACCESSDELEGATION_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:${PG_PORT}/postgres"
export ACCESSDELEGATION_SERVER_BIN="${BUILD_DIR}/server/accessdelegation-server"
export ACCESSDELEGATION_WALKTHROUGH_BIN="${BUILD_DIR}/tools/walkthrough/ad-walkthrough"
export ACCESSDELEGATION_BUF_BIN="${buf}"
log "ACCESSDELEGATION_TEST_DATABASE_URL=${ACCESSDELEGATION_TEST_DATABASE_URL}"
log "ACCESSDELEGATION_SERVER_BIN=${ACCESSDELEGATION_SERVER_BIN}"
log "ACCESSDELEGATION_WALKTHROUGH_BIN=${ACCESSDELEGATION_WALKTHROUGH_BIN}"
log "ACCESSDELEGATION_BUF_BIN=${ACCESSDELEGATION_BUF_BIN}"

# --no-tests=error fails the run when ctest finds no test, which means a broken build
# setup rather than a pass.
status=0
ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 --no-tests=error \
  --timeout "${ACCESSDELEGATION_TEST_TIMEOUT:-600}" "$@" || status=$?
if ((status != 0)); then
  log "ctest failed with status ${status}; the database log is ${PG_DIR}/postgres.log"
fi
exit "${status}"
