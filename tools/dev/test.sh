#!/usr/bin/env bash
# Installs the packages, builds with tests, checks the API in proto/ with buf lint and buf
# breaking, starts a fresh private PostgreSQL cluster (var/test-pg, port 54330, no fsync) and
# runs every test with ctest. The cluster is stopped on exit; its log stays in
# var/test-pg/postgres.log until the next run wipes it.
# Exits with ctest's status, or with 1 when ctest passes but buf reports problems.
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

# Runs buf lint on proto/, then buf breaking against proto/ in the parent commit (HEAD~1)
# with the FILE rules of proto/buf.yaml. The parent is passed as a commit hash so that the
# check works on any branch and on a detached HEAD. A first commit or a shallow clone has no
# parent to compare with, so buf breaking is skipped there. Returns 1 when either check
# reports a problem.
check_api() {
  local buf="$1"
  local failed=0
  log "buf lint proto"
  "${buf}" lint proto || failed=1

  local parent
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    log "not inside a git work tree; skipping buf breaking"
  elif ! parent="$(git rev-parse --verify --quiet 'HEAD~1^{commit}')"; then
    log "HEAD has no parent commit here (a first commit or a shallow clone); skipping buf breaking"
  else
    log "buf breaking proto against HEAD~1 (${parent})"
    "${buf}" breaking proto --against ".git#ref=${parent},subdir=proto" || failed=1
  fi
  return "${failed}"
}

cd "${REPO_ROOT}"
tools/dev/install-deps.sh
tools/dev/build.sh
buf="$(ensure_buf)"

# A failed API check fails the run, but only after ctest, so that one run shows both.
api_status=0
check_api "${buf}" || api_status=$?

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
if ((api_status != 0)); then
  log "buf lint or buf breaking reported problems in proto/; see their output above"
  ((status != 0)) || status=1
fi
exit "${status}"
