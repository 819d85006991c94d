#!/usr/bin/env bash
# Seeds a few grants, runs ad-loadgen for two seconds per scenario and checks that each
# scenario completed calls and had no error, and that CheckAccess both allowed and denied.
# Makes no timing assertion. Runs under tests/support/with_server.sh, which sets
# ACCESSDELEGATION_TARGET, ACCESSDELEGATION_SERVICE_TOKEN_FILE and
# ACCESSDELEGATION_SERVER_DATABASE_URL.
#
# Usage: loadgen_smoke_test.sh LOADGEN_BIN SEED_SCRIPT
set -euo pipefail

(($# == 2)) || { echo "usage: loadgen_smoke_test.sh LOADGEN_BIN SEED_SCRIPT" >&2; exit 1; }
loadgen="$1"
seed="$2"
work_dir="$(mktemp -d "${TMPDIR:-/tmp}/loadgen-smoke.XXXXXX")"
trap 'rm -rf -- "${work_dir}"' EXIT
failures=0

# Prints the number value of field $2 in the JSON object $1.
json_number() {
  grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d : -f 2
}

# Fails the test with message $2 unless the arithmetic condition $1 holds.
expect() {
  if (($1)); then
    echo "PASS  $2"
  else
    echo "FAIL  $2"
    failures=$((failures + 1))
  fi
}

# Runs ad-loadgen for scenario $1 and checks its JSON result.
check_scenario() {
  local rpc="$1"
  local output
  output="$("${loadgen}" --target="${ACCESSDELEGATION_TARGET}" --rpc="${rpc}" \
    --concurrency=8 --connections=2 --warmup=500ms --duration=2s --json \
    --service_token_file="${ACCESSDELEGATION_SERVICE_TOKEN_FILE}" \
    --pairs_file="${work_dir}/pairs.txt")"
  echo "${output}"
  local result calls errors
  result="$(tail -n 1 <<<"${output}")"
  calls="$(json_number "${result}" calls)"
  errors="$(json_number "${result}" errors)"
  expect "${calls:-0} > 0" "${rpc}: completed calls (${calls:-none})"
  expect "${errors:-1} == 0" "${rpc}: no errors (${errors:-none})"
  if [[ "${rpc}" == check_access ]]; then
    local allowed denied
    allowed="$(json_number "${result}" allowed)"
    denied="$(json_number "${result}" denied)"
    expect "${allowed:-0} > 0" "${rpc}: some checks allowed (${allowed:-none})"
    expect "${denied:-0} > 0" "${rpc}: some checks denied (${denied:-none})"
  fi
}

"${seed}" --database_url="${ACCESSDELEGATION_SERVER_DATABASE_URL}" --grants=200 --pairs=300 \
  --pairs_file="${work_dir}/pairs.txt"
check_scenario health
check_scenario check_access
echo "loadgen smoke: ${failures} failed"
((failures == 0))
