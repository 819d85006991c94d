#!/usr/bin/env bash
# Checks that the installed SDK is usable on its own: `cmake --install` puts the headers,
# libraries, .proto files and CMake package under a fresh prefix, a separate CMake project
# finds them with find_package(AccessDelegation), and the program it builds gets a
# CheckAccess response from a real server.
#
# Usage: sdk_install_test.sh CMAKE BUILD_DIR EXAMPLE_SOURCE_DIR SERVER_BIN ADCTL_BIN CXX_COMPILER
set -euo pipefail

(($# == 6)) || {
  echo "usage: sdk_install_test.sh CMAKE BUILD_DIR EXAMPLE_SOURCE_DIR SERVER_BIN ADCTL_BIN CXX_COMPILER" >&2
  exit 2
}
cmake="$1"
build_dir="$2"
example_dir="$3"
server_bin="$4"
adctl_bin="$5"
cxx_compiler="$6"
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
# Runs the example with the server's address and service token, which with_server.sh sets,
# for account $1 on the record of $2, and checks that it prints $3.
expect_example_output() {
  local output status=0
  output="$("${example}" --target="${ACCESSDELEGATION_TARGET}" \
    --service_token_file="${ACCESSDELEGATION_SERVICE_TOKEN_FILE}" \
    --account_id="$1" --owner_account_id="$2" --permission=PERMISSION_VIEW_BILLING)" ||
    status=$?
  echo "${output}"
  if ((status != 0)); then
    echo "FAIL: check_access exited with ${status}" >&2
    return 1
  fi
  if [[ "${output}" != "$3" ]]; then
    echo "FAIL: check_access printed the above for account $1 and owner $2, expected: $3" >&2
    return 1
  fi
}

# Creates an owner with adctl, then checks the owner's access to their own record and the
# access of an unknown account to it.
run_example() {
  local password_file="${work_dir}/password"
  printf 'correct horse battery\n' >"${password_file}"
  local created
  created="$("${adctl_bin}" --target="${ACCESSDELEGATION_TARGET}" \
    --service_token_file="${ACCESSDELEGATION_SERVICE_TOKEN_FILE}" create-account \
    --email=olivia@example.com --first_name=Olivia --last_name=Owner \
    --phone_number=+14155550123 --password_file="${password_file}")"
  local owner
  owner="$(awk '$1 == "account_id" { print $2 }' <<<"${created}")"
  [[ -n "${owner}" ]] || { echo "FAIL: adctl printed no account_id: ${created}" >&2; return 1; }

  expect_example_output "${owner}" "${owner}" $'allowed: true\nreason: REASON_OWNER'
  expect_example_output 0b6f7a52-4a1e-4c55-9a3f-5d2e8c1b7a60 "${owner}" \
    $'allowed: false\nreason: REASON_NO_GRANT'
}
export -f expect_example_output run_example
export example adctl_bin work_dir
"${with_server}" "${server_bin}" bash -c run_example
echo "PASS: the installed SDK builds and calls CheckAccess"
