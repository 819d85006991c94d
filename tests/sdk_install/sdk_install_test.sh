#!/usr/bin/env bash
# Checks that the installed SDK is usable on its own: `cmake --install` puts the headers,
# libraries, .proto files and CMake package under a fresh prefix, a separate CMake project
# finds them with find_package(AccessDelegation), and the program it builds gets a
# CheckAccess response from a real server.
#
# Usage: sdk_install_test.sh CMAKE BUILD_DIR EXAMPLE_SOURCE_DIR SERVER_BIN CXX_COMPILER
set -euo pipefail

(($# == 5)) || {
  echo "usage: sdk_install_test.sh CMAKE BUILD_DIR EXAMPLE_SOURCE_DIR SERVER_BIN CXX_COMPILER" >&2
  exit 2
}
cmake="$1"
build_dir="$2"
example_dir="$3"
server_bin="$4"
cxx_compiler="$5"
with_server="$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/with_server.sh"

failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

expect_file() {
  [[ -f "$1" ]] || fail "$1 was not installed"
}

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/accessdelegation-sdk-install.XXXXXX")"
trap 'rm -rf -- "${work_dir}"' EXIT
prefix="${work_dir}/prefix"

echo "--- installing ${build_dir} into ${prefix}"
"${cmake}" --install "${build_dir}" --prefix "${prefix}"

libdir="lib"
[[ -d "${prefix}/lib" ]] || libdir="$(cd "${prefix}" && ls -d lib*/ | head -n 1)"
expect_file "${prefix}/include/accessdelegation/sdk/client.h"
for stem in resources accounts access_delegation; do
  expect_file "${prefix}/include/accessdelegation/v1/${stem}.pb.h"
  expect_file "${prefix}/include/accessdelegation/v1/${stem}.grpc.pb.h"
  expect_file "${prefix}/share/accessdelegation/proto/accessdelegation/v1/${stem}.proto"
done
expect_file "${prefix}/${libdir}/libaccessdelegation_sdk.a"
expect_file "${prefix}/${libdir}/libaccessdelegation_proto.a"
expect_file "${prefix}/${libdir}/cmake/AccessDelegation/AccessDelegationConfig.cmake"
expect_file "${prefix}/${libdir}/cmake/AccessDelegation/AccessDelegationConfigVersion.cmake"
# Only the SDK side is installed: no server, storage library or test binaries, and none of
# the grpc.health.v1 files that the proto library compiles in.
unexpected="$(find "${prefix}" -type f \( -path '*/bin/*' -o -name '*storage*' \
  -o -name '*server*' -o -name '*test*' -o -name '*health*' \))"
[[ -z "${unexpected}" ]] || fail "files outside the SDK were installed: ${unexpected}"
((failures == 0)) || exit 1

echo "--- building ${example_dir} against ${prefix}"
"${cmake}" -S "${example_dir}" -B "${work_dir}/example" \
  -DCMAKE_PREFIX_PATH="${prefix}" -DCMAKE_CXX_COMPILER="${cxx_compiler}"
"${cmake}" --build "${work_dir}/example"
example="${work_dir}/example/check_access"
[[ -x "${example}" ]] || { echo "FAIL: ${example} was not built" >&2; exit 1; }

echo "--- running the example against ${server_bin}"
# Runs inside with_server.sh, which sets ACCESSDELEGATION_TARGET and
# ACCESSDELEGATION_SERVICE_TOKEN_FILE.
run_example() {
  local output status=0
  output="$("${example}" --target="${ACCESSDELEGATION_TARGET}" \
    --service_token_file="${ACCESSDELEGATION_SERVICE_TOKEN_FILE}" \
    --account_id=0b6f7a52-4a1e-4c55-9a3f-5d2e8c1b7a60 \
    --owner_account_id=7d1c3e94-2b5a-4f08-8e6d-1a9c4b2f3e71 \
    --permission=PERMISSION_VIEW_BILLING)" || status=$?
  echo "${output}"
  if ((status != 0)); then
    echo "FAIL: check_access exited with ${status}" >&2
    return 1
  fi
  if [[ "${output}" != $'allowed: false\nreason: REASON_NO_GRANT' ]]; then
    echo "FAIL: unexpected output from check_access for two unknown accounts" >&2
    return 1
  fi
}
export -f run_example
export example
"${with_server}" "${server_bin}" bash -c run_example
echo "PASS: the installed SDK builds and calls CheckAccess"
