#!/usr/bin/env bash
# Installs, from Debian 12's apt repositories, everything needed to build, run and test
# AccessDelegation. Calls apt-get only when a package is missing, so a run on a machine that
# has everything makes no network request. Runs apt-get as root, through sudo when not root.
#
# Usage: tools/dev/install-deps.sh
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

packages=(
  # Compiler and build tools.
  g++ make cmake pkg-config
  # clang with libFuzzer and its sanitizer runtimes, for tools/dev/fuzz.sh. g++ brings the
  # runtimes of tools/dev/sanitize.sh (libasan8, libubsan1, libtsan2).
  clang libclang-rt-14-dev
  # Libraries and code generators the build links or runs.
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libpqxx-dev libpq-dev libsodium-dev libphonenumber-dev libspdlog-dev libfmt-dev
  libicu-dev libcurl4-openssl-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev
  # PostgreSQL 15 server binaries for the private clusters in tools/dev/pg.sh.
  postgresql postgresql-contrib
  # HTTPS to the npm registry, where tools/dev/test.sh gets buf.
  ca-certificates curl
  # JSON on the command line, for the buf curl examples in README.md and tools/bench.
  jq
  # SVG charts of the benchmark report (tools/bench/report.sh).
  gnuplot-nox
  # Certificates for the TLS tests in tests/ops.
  openssl
  # Python stubs of the API (build/python) and the Python client test.
  python3-grpcio python3-grpc-tools python3-protobuf
)

# npm may come from outside apt (for example a NodeSource nodejs that bundles npm), and
# Debian's npm package conflicts with such a nodejs, so apt's copies are only a fallback.
if ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${package}" 2>/dev/null || true)"
  if [[ "${status}" != "installed" ]]; then
    missing+=("${package}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is missing; run this script as root"
  sudo=(sudo)
fi

log "installing: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
log "installed ${#missing[@]} packages"
