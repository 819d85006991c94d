#!/usr/bin/env bash
# Runs the AccessDelegation benchmark on this machine and prints a table of the results.
#
# Steps: install the packages, build the server and ad-loadgen with CMAKE_BUILD_TYPE=Release
# into build-release/ (or $ACCESSDELEGATION_BUILD_DIR), start a fresh private PostgreSQL
# cluster (var/bench-pg, port 54340), start the server on 127.0.0.1:54341 with a new service
# token, --log_level=warn and no metrics endpoint, then:
#   1. seed 10000 grants and measure grpc.health.v1.Health/Check, the baseline that reads
#      no data, and CheckAccess at the same concurrency;
#   2. seed more grants up to --grants and measure CheckAccess again;
#   3. read the server's resident memory (VmRSS) from /proc.
# Results go to var/bench/results.json and var/bench/results.md, with each ad-loadgen
# output and the server log beside them. The server and the cluster are stopped on exit.
#
# Usage: tools/bench/run.sh [--smoke] [--grants=N] [--concurrency=N] [--connections=N]
#                           [--warmup=DURATION] [--duration=DURATION]
#   --smoke        10000 grants, 1s warm-up and 3s per scenario: checks the setup works
#   --grants       grants in the larger data set (default 100000; at least 10000)
#   --concurrency  calls in flight (default 64)
#   --connections  HTTP/2 connections from ad-loadgen (default 4)
#   --warmup       warm-up per scenario, such as 5s (default 5s)
#   --duration     measured time per scenario, such as 20s (default 20s)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/common.sh"

readonly PG_DIR="var/bench-pg"
readonly PG_PORT=54340
readonly SERVER_PORT=54341
readonly SMALL_GRANTS=10000
readonly OUT_DIR="var/bench"
readonly DATABASE_URL="postgresql://postgres@127.0.0.1:${PG_PORT}/accessdelegation"
readonly SERVER_START_TIMEOUT_SECONDS=60

grants=100000
concurrency=64
connections=4
warmup=5s
duration=20s
for arg in "$@"; do
  case "${arg}" in
    --smoke) grants=${SMALL_GRANTS} warmup=1s duration=3s ;;
    --grants=*) grants="${arg#*=}" ;;
    --concurrency=*) concurrency="${arg#*=}" ;;
    --connections=*) connections="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --duration=*) duration="${arg#*=}" ;;
    *) die "unknown argument '${arg}'; see the usage at the top of tools/bench/run.sh" ;;
  esac
done
[[ "${grants}" =~ ^[0-9]+$ ]] && ((grants >= SMALL_GRANTS)) ||
  die "invalid --grants='${grants}'; expected a number of at least ${SMALL_GRANTS}"

# This script configures the build itself because tools/dev/build.sh always builds
# RelWithDebInfo, and a benchmark measures the Release build.
BENCH_BUILD_DIR="${ACCESSDELEGATION_BUILD_DIR:-${REPO_ROOT}/build-release}"
server_pid=""

stop_all() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "${server_pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  tools/dev/pg.sh stop "${PG_DIR}" >/dev/null 2>&1 || true
}

build() {
  log "building Release into ${BENCH_BUILD_DIR}"
  cmake -S "${REPO_ROOT}" -B "${BENCH_BUILD_DIR}" -DCMAKE_BUILD_TYPE=Release \
    -DACCESSDELEGATION_BUILD_TESTS=OFF >/dev/null
  cmake --build "${BENCH_BUILD_DIR}" --parallel "$(nproc)" \
    --target accessdelegation-server ad-loadgen >&2
}

# Writes a new raw service token for ad-loadgen and the server's token file with its hash.
write_service_token() {
  local token
  token="$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
  (umask 077 && printf '%s' "${token}" >"${OUT_DIR}/service-token")
  (umask 077 && printf 'bench %s\n' "$(printf '%s' "${token}" | sha256sum | cut -d ' ' -f 1)" \
    >"${OUT_DIR}/service-tokens")
}

port_accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_server() {
  "${BENCH_BUILD_DIR}/server/accessdelegation-server" \
    --listen_address="127.0.0.1:${SERVER_PORT}" \
    --database_url="${DATABASE_URL}" \
    --mail_dir="${OUT_DIR}/mail" \
    --service_token_file="${OUT_DIR}/service-tokens" \
    --secret_key_file="${OUT_DIR}/secret.key" \
    --metrics_address= \
    --log_level=warn \
    >"${OUT_DIR}/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 $((SERVER_START_TIMEOUT_SECONDS * 10))); do
    kill -0 "${server_pid}" 2>/dev/null ||
      die "the server exited while starting; its log: $(cat "${OUT_DIR}/server.log")"
    port_accepts "${SERVER_PORT}" && return 0
    sleep 0.1
  done
  die "the server did not listen on 127.0.0.1:${SERVER_PORT} within ${SERVER_START_TIMEOUT_SECONDS}s"
}

# Prints the server's resident memory in KiB.
server_rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/${server_pid}/status"
}

# Runs one scenario, $1 is its name in the table, $2 the --rpc value and $3 the pairs file.
# Prints the JSON line of ad-loadgen with "scenario" added.
run_scenario() {
  local name="$1" rpc="$2" pairs_file="${3:-}"
  log "measuring ${name}: ${concurrency} calls in flight, ${warmup} warm-up, ${duration}"
  local args=(--target="127.0.0.1:${SERVER_PORT}" --rpc="${rpc}"
    --concurrency="${concurrency}" --connections="${connections}"
    --warmup="${warmup}" --duration="${duration}" --json)
  if [[ "${rpc}" == check_access ]]; then
    args+=(--service_token_file="${OUT_DIR}/service-token" --pairs_file="${pairs_file}")
  fi
  "${BENCH_BUILD_DIR}/tools/bench/ad-loadgen" "${args[@]}" >"${OUT_DIR}/${name}.txt" ||
    die "ad-loadgen failed for ${name}; see ${OUT_DIR}/${name}.txt"
  cat "${OUT_DIR}/${name}.txt" >&2
  tail -n 1 "${OUT_DIR}/${name}.txt" | jq -c --arg name "${name}" '{scenario: $name} + .'
}

# Writes results.json and results.md from the scenario lines in $1 and prints the table.
write_results() {
  local scenarios="$1" rss_idle_kib="$2" rss_after_kib="$3"
  jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg revision "$(git -C "${REPO_ROOT}" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --argjson cores "$(nproc)" --argjson grants "${grants}" \
    --argjson small_grants "${SMALL_GRANTS}" \
    --argjson rss_idle_kib "${rss_idle_kib}" --argjson rss_after_kib "${rss_after_kib}" '
    (.[0]) as $base
    | (map(select(.scenario == "check_access_10k")) | first) as $small
    | (map(select(.scenario == "check_access_large")) | first) as $large
    | {date: $date, revision: $revision, cpu: $cpu, cores: $cores,
       small_grants: $small_grants, grants: $grants,
       server_rss_kib_before_load: $rss_idle_kib, server_rss_kib_after_run: $rss_after_kib,
       scenarios: map(. + {throughput_ratio_to_health: (.calls_per_second / $base.calls_per_second),
                           p99_ratio_to_health: (.p99_us / $base.p99_us)}),
       growth: (if $large == null then null else
                {p50_ratio: ($large.p50_us / $small.p50_us),
                 p99_ratio: ($large.p99_us / $small.p99_us),
                 throughput_ratio: ($large.calls_per_second / $small.calls_per_second)} end)}
  ' <<<"${scenarios}" >"${OUT_DIR}/results.json"

  jq -r '
    def f(n): (n * 10 | round) / 10;
    "Date \(.date), revision \(.revision), \(.cores) cores (\(.cpu)), \(.grants) grants.",
    "",
    "| Scenario | calls/s | p50 (ms) | p99 (ms) | p99.9 (ms) | errors | calls/s vs health | p99 vs health |",
    "|---|---|---|---|---|---|---|---|",
    (.scenarios[] |
      "| \(.scenario) | \(.calls_per_second | round) | \(f(.p50_us / 1000)) | \(f(.p99_us / 1000)) | \(f(.p999_us / 1000)) | \(.errors) | \((.throughput_ratio_to_health * 100 | round) / 100) | \((.p99_ratio_to_health * 10 | round) / 10) |"),
    "",
    (if .growth == null then "No larger data set in this run (--smoke)." else
      "CheckAccess at \(.grants) grants vs \(.small_grants): p50 x\((.growth.p50_ratio * 100 | round) / 100), p99 x\((.growth.p99_ratio * 100 | round) / 100), calls/s x\((.growth.throughput_ratio * 100 | round) / 100)." end),
    "",
    "Server resident memory (VmRSS): \(.server_rss_kib_before_load / 1024 | round) MiB before load, \(.server_rss_kib_after_run / 1024 | round) MiB after the run."
  ' "${OUT_DIR}/results.json" | tee "${OUT_DIR}/results.md"
}

main() {
  cd "${REPO_ROOT}"
  tools/dev/install-deps.sh
  build

  trap stop_all EXIT
  rm -rf -- "${OUT_DIR}"
  mkdir -p "${OUT_DIR}/mail"
  tools/dev/pg.sh remove "${PG_DIR}"
  tools/dev/pg.sh start "${PG_DIR}" "${PG_PORT}"
  write_service_token
  start_server
  local rss_idle_kib
  rss_idle_kib="$(server_rss_kib)"

  tools/bench/seed.sh --database_url="${DATABASE_URL}" --grants="${SMALL_GRANTS}" \
    --tag=small --pairs_file="${OUT_DIR}/pairs-10k.txt"
  local scenarios
  scenarios="$(run_scenario health health)"
  scenarios+=$'\n'"$(run_scenario check_access_10k check_access "${OUT_DIR}/pairs-10k.txt")"

  if ((grants > SMALL_GRANTS)); then
    tools/bench/seed.sh --database_url="${DATABASE_URL}" --grants=$((grants - SMALL_GRANTS)) \
      --tag=large --pairs_file="${OUT_DIR}/pairs-large.txt"
    scenarios+=$'\n'"$(run_scenario check_access_large check_access "${OUT_DIR}/pairs-large.txt")"
  fi

  write_results "${scenarios}" "${rss_idle_kib}" "$(server_rss_kib)"
  log "results: ${OUT_DIR}/results.json and ${OUT_DIR}/results.md"
}

main
