#!/usr/bin/env bash
# Runs tools/bench/run.sh --smoke with already built binaries, on the cluster named by
# ACCESSDELEGATION_TEST_DATABASE_URL (the suite creates and drops its own databases there),
# and checks that it reports all six scenarios. run.sh itself fails on any correctness
# check: an RPC error, a CheckAccess run without both answers, a write RPC never
# committed, or a revoke that the second server never saw. Makes no timing assertion.
#
# Usage: bench_smoke_test.sh SERVER_BIN LOADGEN_BIN
set -euo pipefail

(($# == 2)) || { echo "usage: bench_smoke_test.sh SERVER_BIN LOADGEN_BIN" >&2; exit 1; }
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
admin_url="${ACCESSDELEGATION_TEST_DATABASE_URL:-}"
[[ -n "${admin_url}" ]] || {
  echo "ACCESSDELEGATION_TEST_DATABASE_URL is not set; see tools/dev/test.sh" >&2
  exit 1
}
out_dir="$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")"
trap 'rm -rf -- "${out_dir}"' EXIT

"${repo_root}/tools/bench/run.sh" --smoke --no_install --server_bin="$1" --loadgen_bin="$2" \
  --admin_url="${admin_url}" --out_dir="${out_dir}"

scenarios="$(jq '.scenarios | length' "${out_dir}/results.json")"
if ((scenarios != 6)); then
  echo "FAIL  expected 6 scenarios in results.json, got ${scenarios}" >&2
  exit 1
fi
echo "PASS  6 scenarios reported, every correctness check passed"
