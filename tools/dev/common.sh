# shellcheck shell=bash
# shellcheck disable=SC2034  # The variables below are used by the scripts that source this file.
# Shared helpers for the scripts in tools/dev, which source this file.

# REPO_ROOT is the repository's top directory, whatever the caller's working directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# BUILD_DIR is the CMake build tree: $ACCESSDELEGATION_BUILD_DIR if set, else build/.
BUILD_DIR="${ACCESSDELEGATION_BUILD_DIR:-${REPO_ROOT}/build}"

# PG_BIN is where Debian's postgresql-15 package puts initdb, pg_ctl and postgres.
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# Prints a progress line to stderr, prefixed with the running script's name.
log() {
  echo "[$(basename "$0")] $*" >&2
}

# Prints an error to stderr and exits with status 1.
die() {
  echo "[$(basename "$0")] error: $*" >&2
  exit 1
}

# Prints the path of a buf binary, installing buf 1.x from npm under var/npm when neither
# ACCESSDELEGATION_BUF_BIN nor an earlier local install provides one.
ensure_buf() {
  if [[ -n "${ACCESSDELEGATION_BUF_BIN:-}" ]]; then
    [[ -x "${ACCESSDELEGATION_BUF_BIN}" ]] ||
      die "ACCESSDELEGATION_BUF_BIN=${ACCESSDELEGATION_BUF_BIN} is not an executable file"
    echo "${ACCESSDELEGATION_BUF_BIN}"
    return
  fi

  local prefix="${REPO_ROOT}/var/npm"
  local buf="${prefix}/node_modules/.bin/buf"
  if [[ ! -x "${buf}" ]]; then
    command -v npm >/dev/null || die "npm is missing; run tools/dev/install-deps.sh"
    log "installing buf 1.x from npm into ${prefix}"
    npm install --prefix "${prefix}" --no-audit --no-fund @bufbuild/buf@1 >&2 ||
      die "npm install of @bufbuild/buf@1 failed; check access to the npm registry"
  fi
  "${buf}" --version >/dev/null 2>&1 || die "${buf} does not run; delete ${prefix} and retry"
  echo "${buf}"
}

# Runs ctest on the build tree BUILD with the given arguments. A test that fails is run
# once more on its own, so that a test that depends on timing and lost to a busy machine
# does not hide the rest of the run. A test that passes the second time is listed as flaky
# and does not fail the run; one that fails twice does. Either kind is appended, one line
# per test, to the file named by ACCESSDELEGATION_TEST_OUTCOMES when that is set, for the
# summary at the end of tools/dev/test.sh. A sanitizer report is not a test failure and is
# judged by tools/dev/sanitize.sh whether or not the test passed.
#
# Usage: run_ctest BUILD CTEST_ARG...
run_ctest() {
  local build="$1"
  shift
  local failed_log="${build}/Testing/Temporary/LastTestsFailed.log"
  local outcomes="${ACCESSDELEGATION_TEST_OUTCOMES:-/dev/null}"
  rm -f "${failed_log}"
  local status=0
  ctest --test-dir "${build}" "$@" || status=$?
  ((status != 0)) || return 0
  # No list means ctest itself failed, for example because it found no tests.
  [[ -s "${failed_log}" ]] || return "${status}"

  local first_failures
  first_failures="$(cut -d: -f2- "${failed_log}")"
  log "failed on the first try: $(echo "${first_failures}" | paste -sd' ')"
  log "running each failed test once more, alone"
  rm -f "${failed_log}.first"
  cp "${failed_log}" "${failed_log}.first"
  status=0
  ctest --test-dir "${build}" "$@" --rerun-failed -j1 || status=$?

  local test_name
  while IFS= read -r test_name; do
    if ((status != 0)) && grep -qxF -- "${test_name}" <(cut -d: -f2- "${failed_log}"); then
      log "FAILED twice: ${test_name}"
      echo "$(basename "${build}"): FAILED twice: ${test_name}" >>"${outcomes}"
    else
      log "flaky (failed, then passed alone): ${test_name}"
      echo "$(basename "${build}"): flaky, failed once then passed alone: ${test_name}" >>"${outcomes}"
    fi
  done <<<"${first_failures}"
  return "${status}"
}
