#!/usr/bin/env bash
# Checks a running AccessDelegation server (for example one started by
# tools/dev/run-local.sh) with buf curl and server reflection, so no .proto file is needed:
#   1. the method list contains the Accounts and AccessDelegation methods,
#   2. the gRPC health check returns SERVING,
#   3. Accounts/SignIn with an unknown email and a wrong password fails with UNAUTHENTICATED.
# Gets buf from npm into var/npm when $ACCESSDELEGATION_BUF_BIN is unset and buf is not
# there yet. Exits with 1 when a check fails.
#
# Usage: tools/dev/smoke.sh [HOST:PORT]   (default 127.0.0.1:50051)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

address="${1:-127.0.0.1:50051}"
base_url="http://${address}"
buf="$(ensure_buf)"

# buf curl exits with the gRPC status code shifted left by three bits when the RPC fails
# (`buf help curl`), so UNAUTHENTICATED (16) is exit status 128.
readonly UNAUTHENTICATED_EXIT_STATUS=128

passed=0
failed=0

# Runs buf curl over plaintext HTTP/2 with the gRPC protocol. In buf 1.75 --protocol grpc
# implies --http2-prior-knowledge for http URLs; the flag is passed anyway so the command
# does not depend on that.
buf_curl() {
  "${buf}" curl --protocol grpc --http2-prior-knowledge "$@"
}

pass() {
  echo "PASS  $1"
  passed=$((passed + 1))
}

# Prints the failed check's name and the output of buf that shows why.
fail() {
  echo "FAIL  $1"
  printf '      %s\n' "${2//$'\n'/$'\n'      }"
  failed=$((failed + 1))
}

check_methods() {
  local name="list methods through reflection"
  local output status=0
  output="$(buf_curl --list-methods "${base_url}" 2>&1)" || status=$?
  if ((status != 0)); then
    fail "${name} (buf exit status ${status})" "${output}"
  elif ! grep -qx 'accessdelegation.v1.Accounts/SignIn' <<<"${output}" ||
    ! grep -qx 'accessdelegation.v1.AccessDelegation/CheckAccess' <<<"${output}"; then
    fail "${name} (Accounts/SignIn or AccessDelegation/CheckAccess missing)" "${output}"
  else
    pass "${name}"
  fi
}

check_health() {
  local name="grpc.health.v1.Health/Check returns SERVING"
  local output status=0
  output="$(buf_curl "${base_url}/grpc.health.v1.Health/Check" 2>&1)" || status=$?
  if ((status == 0)) && grep -q '"SERVING"' <<<"${output}"; then
    pass "${name}"
  else
    fail "${name} (buf exit status ${status})" "${output}"
  fi
}

check_sign_in_rejected() {
  local name="Accounts/SignIn with a wrong password returns UNAUTHENTICATED"
  local output status=0
  output="$(buf_curl --data '{"email": "nobody@example.com", "password": "wrong-password-123"}' \
    "${base_url}/accessdelegation.v1.Accounts/SignIn" 2>&1)" || status=$?
  if ((status == UNAUTHENTICATED_EXIT_STATUS)) && grep -q '"unauthenticated"' <<<"${output}"; then
    pass "${name}"
  else
    fail "${name} (buf exit status ${status}, expected ${UNAUTHENTICATED_EXIT_STATUS})" \
      "${output}"
  fi
}

# Listing services needs only a reachable server with reflection, so it separates "no
# server there" from failed checks.
log "checking ${base_url} with ${buf}"
if ! services="$(buf_curl --list-services "${base_url}" 2>&1)"; then
  die "listing services at ${base_url} failed, so no server with reflection runs there (start one with tools/dev/run-local.sh). buf output: ${services}"
fi
check_methods
check_health
check_sign_in_rejected
echo "smoke: ${passed} passed, ${failed} failed"
((failed == 0))
