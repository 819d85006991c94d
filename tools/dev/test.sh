#!/usr/bin/env bash
# Installs the packages, builds with tests, checks the API in proto/ with buf lint and buf
# breaking, starts a fresh private PostgreSQL cluster (var/test-pg, port 54330, no fsync) and
# runs every test with ctest. Then, on the same cluster, come the hardening stages named in
# ACCESSDELEGATION_HARDENING_STAGES (all three when it is unset): "asan" runs every
# test again under AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/), "tsan" the
# tests labelled "concurrency" under ThreadSanitizer (build-tsan/), and "fuzz" a bounded run
# of each libFuzzer target (build-fuzz/); see tools/dev/sanitize.sh and tools/dev/fuzz.sh.
# Every stage runs even when an earlier one fails, and the run ends with the time each took
# and the tests that failed. A test that fails is rerun once alone: passing then, it is
# listed as flaky and does not fail the run (see run_ctest in tools/dev/common.sh).
# The cluster is stopped on exit; its log stays in var/test-pg/postgres.log until the next
# run wipes it.
# Exits with 1 when any stage fails or buf reports problems, else 0.
#
# Usage: tools/dev/test.sh [CTEST_ARG...]
#   CTEST_ARG  passed to the first ctest run after the defaults, for example -R FlowTest
#
# Environment:
#   ACCESSDELEGATION_TEST_TIMEOUT     seconds one test may run before ctest kills it
#                                     (default 600; a test's own TIMEOUT property wins)
#   ACCESSDELEGATION_HARDENING_STAGES  space-separated hardening stages to run after the
#                                     tests: any of asan, tsan and fuzz (default: all
#                                     three; set it empty to run none)
#   ACCESSDELEGATION_FUZZ_SECONDS     seconds each fuzz target runs (default 20)
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

# Stage names and their durations in seconds, for the summary at the end.
stage_names=()
stage_seconds=()
stage_results=()

# Runs a command as the named stage and records how long it took and whether it passed.
# Returns the command's status.
run_stage() {
  local name="$1"
  shift
  local start="${SECONDS}"
  local result=0
  log "stage ${name}: starting"
  "$@" || result=$?
  stage_names+=("${name}")
  stage_seconds+=("$((SECONDS - start))")
  if ((result == 0)); then stage_results+=(passed); else stage_results+=("failed (${result})"); fi
  log "stage ${name}: ${stage_results[-1]} after $((SECONDS - start))s"
  return "${result}"
}

print_stage_summary() {
  local i
  log "stage durations:"
  for i in "${!stage_names[@]}"; do
    log "  ${stage_names[i]}: ${stage_seconds[i]}s, ${stage_results[i]}"
  done
  log "  total: ${SECONDS}s"
  if [[ -s "${ACCESSDELEGATION_TEST_OUTCOMES}" ]]; then
    log "tests that failed at least once:"
    while IFS= read -r line; do log "  ${line}"; done <"${ACCESSDELEGATION_TEST_OUTCOMES}"
  fi
}

cd "${REPO_ROOT}"
# Each ctest run in any stage appends its flaky and failed tests here; see run_ctest.
export ACCESSDELEGATION_TEST_OUTCOMES="${REPO_ROOT}/var/test-outcomes.txt"
mkdir -p "${REPO_ROOT}/var"
rm -f "${ACCESSDELEGATION_TEST_OUTCOMES}"
tools/dev/install-deps.sh
run_stage build tools/dev/build.sh
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
run_stage tests run_ctest "${BUILD_DIR}" --output-on-failure -j2 --no-tests=error \
  --timeout "${ACCESSDELEGATION_TEST_TIMEOUT:-600}" "$@" || status=$?
if ((status != 0)); then
  log "ctest failed with status ${status}; the database log is ${PG_DIR}/postgres.log"
fi

for stage in ${ACCESSDELEGATION_HARDENING_STAGES-asan tsan fuzz}; do
  case "${stage}" in
    asan) run_stage asan-ubsan tools/dev/sanitize.sh address || status=1 ;;
    tsan) run_stage tsan tools/dev/sanitize.sh thread || status=1 ;;
    fuzz) run_stage fuzz tools/dev/fuzz.sh || status=1 ;;
    *) log "unknown hardening stage '${stage}'; use asan, tsan or fuzz"; status=1 ;;
  esac
done
print_stage_summary

if ((api_status != 0)); then
  log "buf lint or buf breaking reported problems in proto/; see their output above"
  ((status != 0)) || status=1
fi
exit "${status}"
