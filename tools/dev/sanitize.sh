#!/usr/bin/env bash
# Builds AccessDelegation with a sanitizer into a build tree of its own and runs tests
# there against the PostgreSQL cluster named by ACCESSDELEGATION_TEST_DATABASE_URL. A
# sanitizer report fails the run even when the test that caused it passes, including a
# report from a server process that a test started: every report goes to a file under
# <build tree>/sanitizer-reports, and the script prints those files and exits 1.
#
# Usage: tools/dev/sanitize.sh address|thread [CTEST_ARG...]
#   address    AddressSanitizer with UndefinedBehaviorSanitizer in build-asan/; builds
#              everything and runs every test except SdkInstallTest (label "install"),
#              which compiles a program without sanitizers against the installed, instrumented
#              SDK and cannot link
#   thread     ThreadSanitizer in build-tsan/; builds only the targets of the tests labelled
#              "concurrency" and runs only those tests. Every executable carries
#              tools/sanitizers/absl_mutex_tsan.cc, which makes Debian's uninstrumented
#              absl::Mutex visible to ThreadSanitizer, and tsan_probe checks that it does
#   CTEST_ARG  passed to ctest after the defaults, for example -R FlowTest
#
# Environment:
#   ACCESSDELEGATION_TEST_DATABASE_URL  required: a PostgreSQL URL, as tools/dev/test.sh sets
#   ACCESSDELEGATION_TEST_TIMEOUT       seconds one test may run (default 600)
#   ACCESSDELEGATION_BUF_BIN            buf, for the buf curl test; without it that test fails
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1)) || die "usage: tools/dev/sanitize.sh address|thread [CTEST_ARG...]"
mode="$1"
shift
case "${mode}" in
  address)
    build_dir="${REPO_ROOT}/build-asan"
    targets=()
    ctest_filter=(-LE install)
    ;;
  thread)
    build_dir="${REPO_ROOT}/build-tsan"
    targets=(--target storage_test races_test ops_test accessdelegation-server tsan_probe)
    ctest_filter=(-L concurrency)
    ;;
  *) die "unknown sanitizer '${mode}'; use address or thread" ;;
esac
[[ -n "${ACCESSDELEGATION_TEST_DATABASE_URL:-}" ]] ||
  die "ACCESSDELEGATION_TEST_DATABASE_URL is unset; start a cluster with tools/dev/pg.sh and set it"

# The options apply from the build on, because gtest_discover_tests runs each test binary
# at build time to list its tests. fast_unwind_on_malloc=0 records allocation stacks through
# the Debian libraries, which are built without frame pointers, so that a leak suppression
# can name the function of ours or theirs that the leak passed through.
readonly suppressions="${REPO_ROOT}/tools/sanitizers"
readonly report_dir="${build_dir}/sanitizer-reports"
rm -rf "${report_dir}"
mkdir -p "${report_dir}"
export ASAN_OPTIONS="log_path=${report_dir}/asan:detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=${suppressions}/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=${report_dir}/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=${suppressions}/ubsan.supp"
export TSAN_OPTIONS="log_path=${report_dir}/tsan:suppressions=${suppressions}/tsan.supp:second_deadlock_stack=1:print_suppressions=0:ignore_noninstrumented_modules=1"

log "configuring ${build_dir} (ACCESSDELEGATION_SANITIZE=${mode})"
cmake -S "${REPO_ROOT}" -B "${build_dir}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DACCESSDELEGATION_BUILD_TESTS=ON \
  -DACCESSDELEGATION_SANITIZE="${mode}"
log "building with $(nproc) jobs"
cmake --build "${build_dir}" --parallel "$(nproc)" "${targets[@]}"

export ACCESSDELEGATION_SERVER_BIN="${build_dir}/server/accessdelegation-server"
export ACCESSDELEGATION_WALKTHROUGH_BIN="${build_dir}/tools/walkthrough/ad-walkthrough"
status=0
run_ctest "${build_dir}" --output-on-failure -j2 --no-tests=error \
  --timeout "${ACCESSDELEGATION_TEST_TIMEOUT:-600}" "${ctest_filter[@]}" "$@" || status=$?

shopt -s nullglob
reports=("${report_dir}"/*)
if ((${#reports[@]} > 0)); then
  for report in "${reports[@]}"; do
    log "sanitizer report ${report}:"
    cat "${report}" >&2
  done
  log "${#reports[@]} sanitizer reports; fix the code, or suppress a report from a library we do not build in tools/sanitizers with a reason"
  status=1
fi
exit "${status}"
