#!/usr/bin/env bash
# Configures and builds AccessDelegation into build/ (or $ACCESSDELEGATION_BUILD_DIR) with
# optimizations and debug info (RelWithDebInfo), one compile job per CPU.
#
# Usage: tools/dev/build.sh [--no-tests] [TARGET...]
#   --no-tests  configure without the GoogleTest suite (ACCESSDELEGATION_BUILD_TESTS=OFF)
#   TARGET      build only these CMake targets, such as accessdelegation-server
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_tests=ON
targets=()
for arg in "$@"; do
  case "${arg}" in
    --no-tests) build_tests=OFF ;;
    -*) die "unknown option '${arg}'; usage: tools/dev/build.sh [--no-tests] [TARGET...]" ;;
    *) targets+=(--target "${arg}") ;;
  esac
done

log "configuring ${BUILD_DIR} (tests ${build_tests})"
cmake -S "${REPO_ROOT}" -B "${BUILD_DIR}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DACCESSDELEGATION_BUILD_TESTS="${build_tests}"

log "building with $(nproc) jobs"
cmake --build "${BUILD_DIR}" --parallel "$(nproc)" "${targets[@]}"
log "build finished"
