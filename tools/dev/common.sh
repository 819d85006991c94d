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
