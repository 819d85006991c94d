#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang into build-fuzz/ and runs each for
# a bounded time, starting from its seed corpus in tests/fuzz/corpus/<target>/. New inputs
# that libFuzzer finds go to var/fuzz/corpus/<target>/, never into the repository. A crash,
# a sanitizer report, a timeout or an out-of-memory fails the run; the input that caused it
# is saved under var/fuzz/artifacts/ and can be replayed with
#   build-fuzz/tests/fuzz/<target> <file>
#
# Usage: tools/dev/fuzz.sh [TARGET...]
#   TARGET  run only these targets, such as email_fuzzer (default: all)
#
# Environment:
#   ACCESSDELEGATION_FUZZ_SECONDS  seconds each target runs (default 20)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly ALL_TARGETS=(email_fuzzer name_fuzzer phone_number_fuzzer page_token_fuzzer
  bearer_token_fuzzer migrations_fuzzer rpc_fuzzer)
readonly build_dir="${REPO_ROOT}/build-fuzz"
readonly seconds="${ACCESSDELEGATION_FUZZ_SECONDS:-20}"
targets=("$@")
((${#targets[@]} > 0)) || targets=("${ALL_TARGETS[@]}")

command -v clang++ >/dev/null || die "clang++ is missing; run tools/dev/install-deps.sh"
log "configuring ${build_dir} (clang, ACCESSDELEGATION_BUILD_FUZZERS=ON)"
cmake -S "${REPO_ROOT}" -B "${build_dir}" \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DACCESSDELEGATION_BUILD_TESTS=OFF \
  -DACCESSDELEGATION_BUILD_FUZZERS=ON
log "building ${targets[*]} with $(nproc) jobs"
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "${target}"); done
cmake --build "${build_dir}" --parallel "$(nproc)" "${build_targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=${REPO_ROOT}/tools/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=${REPO_ROOT}/tools/sanitizers/ubsan.supp"
readonly artifacts="${REPO_ROOT}/var/fuzz/artifacts"
mkdir -p "${artifacts}"
failed=()
for target in "${targets[@]}"; do
  seeds="${REPO_ROOT}/tests/fuzz/corpus/${target}"
  [[ -d "${seeds}" ]] || die "no seed corpus ${seeds}; add at least one input there"
  corpus="${REPO_ROOT}/var/fuzz/corpus/${target}"
  mkdir -p "${corpus}"
  log "fuzzing ${target} for ${seconds}s"
  # -timeout: one input taking longer is a hang. -rss_limit_mb bounds memory per process.
  if ! "${build_dir}/tests/fuzz/${target}" -max_total_time="${seconds}" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="${artifacts}/${target}-" \
    "${corpus}" "${seeds}"; then
    failed+=("${target}")
  fi
done

if ((${#failed[@]} > 0)); then
  die "fuzz targets failed: ${failed[*]}; the inputs are in ${artifacts}"
fi
log "all ${#targets[@]} fuzz targets ran ${seconds}s each without a failure"
