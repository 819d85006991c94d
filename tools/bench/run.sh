#!/usr/bin/env bash
# Runs the AccessDelegation benchmark suite and prints a table of the results with the goal
# of each scenario and whether it is met.
#
# Steps: install the packages, build the server and ad-loadgen with CMAKE_BUILD_TYPE=Release
# into build-release/ (skipped with --build_dir or --server_bin), start a private cluster
# (var/bench-pg, or use --admin_url), start the server with a new service token,
# --log_level=warn and no metrics endpoint, seed the grants with tools/bench/seed.sh, and
# run the scenarios:
#   1. CheckAccess at 64 calls in flight on the largest data set, against the
#      grpc.health.v1.Health/Check baseline measured just before on the same server;
#   2. growth: CheckAccess p50 and p99 at 10k, 100k and 1M grants;
#      plus a concurrency sweep of both calls for the throughput chart;
#   3. writes: ad-loadgen --rpc=writes, and --rpc=update_grant, against pgbench -M prepared
#      (TPC-B-like, its own database on the same cluster) at the same client count;
#   4. isolation: CheckAccess p99 alone and while ad-loadgen --rpc=sign_in runs;
#   5. server resident memory (VmRSS) after scenario 1;
#   6. freshness: a second server on the same database; revokes through the first, checks
#      on the second, without and with the consistency token.
# Every ad-loadgen result has a ratio to the health baseline of the same data set.
# tools/bench/report.sh then writes results.json, report.md and SVG charts into the output
# directory (var/bench by default). The servers and the cluster are stopped on exit.
#
# Exits 1 when a correctness check fails: an RPC error, a CheckAccess run with no allowed
# or no denied answer, a write RPC never committed, or a freshness revoke never seen. Goals
# on speed and memory are reported, never enforced.
#
# Usage: tools/bench/run.sh [--smoke] [--build_dir=DIR] [--server_bin=F --loadgen_bin=F]
#                           [--admin_url=URL] [--out_dir=DIR] [--pg_port=N] [--no_install]
#                           [--duration=D] [--warmup=D]
#   --smoke        10000 grants, 2 s per measurement, 4 write clients, 20 revokes: checks
#                  that the suite works and that its correctness checks pass in about a
#                  minute
#   --build_dir    use the server and ad-loadgen already built in DIR (any build type)
#                  instead of building Release into build-release/
#   --server_bin, --loadgen_bin
#                  use these binaries (both needed) instead of building
#   --admin_url    postgresql:// URL of an existing cluster on which the user may CREATE
#                  DATABASE; the suite creates and drops its own databases there instead
#                  of starting var/bench-pg
#   --out_dir      where results go (default var/bench; emptied first)
#   --pg_port      port of the private cluster (default 54340)
#   --no_install   skip tools/dev/install-deps.sh
#   --duration     measured time per scenario, such as 15s (default 15s; smoke 2s)
#   --warmup       warm-up per scenario (default 3s; smoke 0.5s)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/common.sh"

readonly SERVER_START_TIMEOUT_SECONDS=60
readonly CHECK_CONCURRENCY=64
readonly CONNECTIONS=4
readonly SIGN_IN_CONCURRENCY=16

smoke=false
build_dir=""
server_bin=""
loadgen_bin=""
admin_url=""
out_dir="var/bench"
pg_port=54340
install=true
duration=""
warmup=""
for arg in "$@"; do
  case "${arg}" in
    --smoke) smoke=true ;;
    --build_dir=*) build_dir="${arg#*=}" ;;
    --server_bin=*) server_bin="${arg#*=}" ;;
    --loadgen_bin=*) loadgen_bin="${arg#*=}" ;;
    --admin_url=*) admin_url="${arg#*=}" ;;
    --out_dir=*) out_dir="${arg#*=}" ;;
    --pg_port=*) pg_port="${arg#*=}" ;;
    --no_install) install=false ;;
    --duration=*) duration="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    *) die "unknown argument '${arg}'; see the usage at the top of tools/bench/run.sh" ;;
  esac
done

if [[ "${smoke}" == true ]]; then
  sizes=(10000)
  sweep=(1 64)
  write_clients=4
  writer_invitees=4
  duration="${duration:-2s}"
  warmup="${warmup:-0.5s}"
  sweep_duration=1s
  revokes=20
  pgbench_scale=1
else
  sizes=(10000 100000 1000000)
  sweep=(1 4 16 64 128 256)
  write_clients=16
  # Enough invitees that a slot has a call to make while the server's outbox workers
  # deliver the invitation emails of the others.
  writer_invitees=8
  duration="${duration:-15s}"
  warmup="${warmup:-3s}"
  sweep_duration=5s
  revokes=200
  pgbench_scale=${write_clients}
fi
[[ "${pg_port}" =~ ^[0-9]+$ ]] || die "invalid --pg_port='${pg_port}'; expected a port number"
[[ "${duration}" =~ ^[0-9]+(\.[0-9]+)?s$ ]] ||
  die "invalid --duration='${duration}'; expected seconds such as 15s"
[[ "${warmup}" =~ ^[0-9]+(\.[0-9]+)?s$ ]] ||
  die "invalid --warmup='${warmup}'; expected seconds such as 3s"

cd "${REPO_ROOT}"
mkdir -p "${out_dir}"
out_dir="$(cd "${out_dir}" && pwd)"
readonly PG_DIR="${REPO_ROOT}/var/bench-pg"
run_id="$(date +%s)_$$"
database="bench_${run_id}"
pgbench_database="pgbench_${run_id}"
server_pids=()
postmaster_pid=""

# Prints the URL of database $1 on the cluster in use.
database_url() {
  if [[ -n "${admin_url}" ]]; then
    local base="${admin_url%%\?*}"
    echo "${base%/*}/$1"
  else
    echo "postgresql://postgres@127.0.0.1:${pg_port}/$1"
  fi
}

admin_psql() {
  psql -X -q -v ON_ERROR_STOP=1 "${admin_url:-$(database_url postgres)}" "$@"
}

stop_server() {
  local pid="$1"
  kill -0 "${pid}" 2>/dev/null || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}

stop_all() {
  local pid
  for pid in "${server_pids[@]}"; do stop_server "${pid}"; done
  if [[ -n "${admin_url}" ]]; then
    admin_psql -c "DROP DATABASE IF EXISTS \"${database}\" WITH (FORCE)" >/dev/null 2>&1 || true
    admin_psql -c "DROP DATABASE IF EXISTS \"${pgbench_database}\" WITH (FORCE)" \
      >/dev/null 2>&1 || true
  else
    tools/dev/pg.sh stop "${PG_DIR}" >/dev/null 2>&1 || true
  fi
}

# Sets server_bin and loadgen_bin, building them first unless given.
build() {
  if [[ -n "${server_bin}" || -n "${loadgen_bin}" ]]; then
    [[ -x "${server_bin}" && -x "${loadgen_bin}" ]] ||
      die "--server_bin='${server_bin}' and --loadgen_bin='${loadgen_bin}' must both be executables"
    return
  fi
  if [[ -n "${build_dir}" ]]; then
    build_dir="$(cd "${build_dir}" && pwd)"
    log "using the binaries in ${build_dir}"
  else
    build_dir="${REPO_ROOT}/build-release"
    # tools/dev/build.sh always builds RelWithDebInfo, and a benchmark measures Release.
    log "building Release into ${build_dir}"
    cmake -S "${REPO_ROOT}" -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release \
      -DACCESSDELEGATION_BUILD_TESTS=OFF >/dev/null
    cmake --build "${build_dir}" --parallel "$(nproc)" \
      --target accessdelegation-server ad-loadgen >&2
  fi
  server_bin="${build_dir}/server/accessdelegation-server"
  loadgen_bin="${build_dir}/tools/bench/ad-loadgen"
}

# Prints the CMAKE_BUILD_TYPE of the binaries, or "unknown" for --server_bin.
build_type() {
  awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "${build_dir}/CMakeCache.txt" 2>/dev/null ||
    echo unknown
}

# Starts the private cluster with 512 MB of shared buffers, so that the 1M-grant tables
# and indexes stay in memory as they would on a production database server.
start_cluster() {
  if [[ -n "${admin_url}" ]]; then
    admin_psql -c "CREATE DATABASE \"${database}\"" -c "CREATE DATABASE \"${pgbench_database}\""
    return
  fi
  tools/dev/pg.sh remove "${PG_DIR}"
  tools/dev/pg.sh start "${PG_DIR}" "${pg_port}"
  admin_psql -c "ALTER SYSTEM SET shared_buffers = '512MB'"
  tools/dev/pg.sh stop "${PG_DIR}"
  tools/dev/pg.sh start "${PG_DIR}" "${pg_port}"
  admin_psql -c "CREATE DATABASE \"${database}\"" -c "CREATE DATABASE \"${pgbench_database}\""
  postmaster_pid="$(head -n 1 "${PG_DIR}/postmaster.pid")"
}

# Writes a new raw service token for ad-loadgen and the server's token file with its hash.
write_service_token() {
  local token
  token="$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
  (umask 077 && printf '%s' "${token}" >"${out_dir}/service-token")
  (umask 077 && printf 'bench %s\n' "$(printf '%s' "${token}" | sha256sum | cut -d ' ' -f 1)" \
    >"${out_dir}/service-tokens")
}

port_accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a server named $1 on a free port and sets server_port and server_pid. The abuse
# limits are off: the load comes from one address and invites far beyond a person's day.
start_server() {
  local name="$1" attempt
  for attempt in 1 2 3; do
    server_port="$(free_port)"
    "${server_bin}" \
      --listen_address="127.0.0.1:${server_port}" \
      --database_url="$(database_url "${database}")" \
      --mail_dir="${out_dir}/mail-${name}" \
      --service_token_file="${out_dir}/service-tokens" \
      --secret_key_file="${out_dir}/secret.key" \
      --metrics_address= \
      --log_level=warn \
      --invitations_per_owner_per_day=0 \
      --peer_sign_in_failure_limit=0 \
      --peer_token_failure_limit=0 \
      >"${out_dir}/server-${name}.log" 2>&1 &
    server_pid=$!
    server_pids+=("${server_pid}")
    for _ in $(seq 1 $((SERVER_START_TIMEOUT_SECONDS * 10))); do
      kill -0 "${server_pid}" 2>/dev/null || break
      port_accepts "${server_port}" && return 0
      sleep 0.1
    done
    log "server ${name} did not start on port ${server_port} (attempt ${attempt})"
    stop_server "${server_pid}"
  done
  die "server ${name} did not start; its log: $(cat "${out_dir}/server-${name}.log")"
}

# Prints the CPU time in clock ticks used so far by process $1 (0 when it is gone).
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Prints the CPU ticks of the PostgreSQL cluster's processes now running (0 with
# --admin_url, where the report shows "-"). A backend that ends between two readings takes
# its ticks with it, so a difference below 0 is reported as 0. Backends that ended since the last reading are not counted.
postgres_ticks() {
  [[ -n "${postmaster_pid}" ]] || { echo 0; return; }
  local total=0 pid
  for pid in "${postmaster_pid}" $(pgrep -P "${postmaster_pid}" || true); do
    total=$((total + $(cpu_ticks "${pid}")))
  done
  echo "${total}"
}

# Runs ad-loadgen with the arguments after $1, saves its output as $1.txt and appends its
# JSON line, named $1 and with the CPU use of each process during the run, to records.jsonl.
measure() {
  local name="$1"
  shift
  local server_before postgres_before started ended loadgen_cpu
  server_before="$(cpu_ticks "${server_pid}")"
  postgres_before="$(postgres_ticks)"
  started="$(date +%s.%N)"
  local TIMEFORMAT='%U %S'
  { time "${loadgen_bin}" --target="127.0.0.1:${server_port}" \
    --service_token_file="${out_dir}/service-token" --json "$@" \
    >"${out_dir}/${name}.txt" 2>"${out_dir}/${name}.err"; } 2>"${out_dir}/${name}.time" ||
    die "ad-loadgen failed for ${name}: $(cat "${out_dir}/${name}.err")"
  ended="$(date +%s.%N)"
  loadgen_cpu="$(awk '{ print $1 + $2 }' "${out_dir}/${name}.time")"
  grep -v '^{' "${out_dir}/${name}.txt" | sed "s/^/  ${name}: /" >&2
  tail -n 1 "${out_dir}/${name}.txt" | jq -c --arg name "${name}" \
    --argjson wall "$(awk -v a="${started}" -v b="${ended}" 'BEGIN { print b - a }')" \
    --argjson server "$(($(cpu_ticks "${server_pid}") - server_before))" \
    --argjson postgres "$(($(postgres_ticks) - postgres_before))" \
    --argjson loadgen "${loadgen_cpu}" --argjson hz "$(getconf CLK_TCK)" \
    --argjson postgres_known "$([[ -n "${postmaster_pid}" ]] && echo true || echo false)" \
    '{name: $name} + . + {cpu_percent: {
       server: ($server / $hz / $wall * 100 | round),
       postgres: (if $postgres_known then ([$postgres, 0] | max) / $hz / $wall * 100 | round
                  else "-" end),
       loadgen: ($loadgen / $wall * 100 | round)}}' >>"${out_dir}/records.jsonl"
}

# Appends the JSON object $1 to records.jsonl.
record() {
  jq -c . <<<"$1" >>"${out_dir}/records.jsonl"
}

# Prints $1 grants as 10k, 100k or 1M.
size_label() {
  case "$1" in
    *000000) echo "$(($1 / 1000000))m" ;;
    *000) echo "$(($1 / 1000))k" ;;
    *) echo "$1" ;;
  esac
}

check_args() {
  echo --rpc=check_access --concurrency="$1" --connections="$(($1 < CONNECTIONS ? $1 : CONNECTIONS))" \
    --pairs_file="${out_dir}/pairs-${2}.txt" --warmup="${3:-${warmup}}" --duration="${4:-${duration}}"
}

health_args() {
  echo --rpc=health --concurrency="$1" --connections="$(($1 < CONNECTIONS ? $1 : CONNECTIONS))" \
    --warmup="${2:-${warmup}}" --duration="${3:-${duration}}"
}

# Seeds up to each size of `sizes` and measures health and CheckAccess at 64 calls in flight.
run_growth() {
  local seeded=0 size label
  for size in "${sizes[@]}"; do
    label="$(size_label "${size}")"
    log "seeding up to ${size} grants"
    local started=${SECONDS}
    tools/bench/seed.sh --database_url="$(database_url "${database}")" \
      --grants=$((size - seeded)) --tag="s${label}" --pairs_file="${out_dir}/pairs-${label}.txt"
    record "{\"name\": \"seed_${label}\", \"grants\": ${size}, \"seconds\": $((SECONDS - started))}"
    seeded=${size}
    # shellcheck disable=SC2046  # The helpers print one argument per word.
    measure "health_${label}" $(health_args "${CHECK_CONCURRENCY}")
    # shellcheck disable=SC2046
    measure "check_access_${label}" $(check_args "${CHECK_CONCURRENCY}" "${label}")
  done
  record "{\"name\": \"rss\", \"grants\": ${seeded}, \"kib\": $(awk '/^VmRSS:/ { print $2 }' \
    "/proc/${server_pid}/status")}"
}

run_sweep() {
  local label="$1" concurrency
  for concurrency in "${sweep[@]}"; do
    # shellcheck disable=SC2046
    measure "sweep_health_c${concurrency}" $(health_args "${concurrency}" 1s "${sweep_duration}")
    # shellcheck disable=SC2046
    measure "sweep_check_access_c${concurrency}" \
      $(check_args "${concurrency}" "${label}" 1s "${sweep_duration}")
  done
}

# Measures CheckAccess alone, then again while SignIn runs at full load from a second
# ad-loadgen that starts first and ends after it.
run_isolation() {
  local label="$1"
  # shellcheck disable=SC2046
  measure isolation_alone $(check_args "${CHECK_CONCURRENCY}" "${label}")
  # The measured run starts 2 s after the sign-in load and takes warmup + duration.
  local total_s
  total_s="$(awk -v w="${warmup%s}" -v d="${duration%s}" 'BEGIN { print w + d + 4 }')"
  "${loadgen_bin}" --target="127.0.0.1:${server_port}" \
    --service_token_file="${out_dir}/service-token" --json --rpc=sign_in \
    --concurrency="${SIGN_IN_CONCURRENCY}" --connections=2 --warmup=2s \
    --duration="${total_s}s" >"${out_dir}/sign_in_load.txt" 2>"${out_dir}/sign_in_load.err" &
  local sign_in_pid=$!
  sleep 2
  # shellcheck disable=SC2046
  measure isolation_with_sign_in $(check_args "${CHECK_CONCURRENCY}" "${label}")
  wait "${sign_in_pid}" || die "ad-loadgen --rpc=sign_in failed: $(cat "${out_dir}/sign_in_load.err")"
  tail -n 1 "${out_dir}/sign_in_load.txt" | jq -c '{name: "sign_in_load"} + .' \
    >>"${out_dir}/records.jsonl"
}

# Measures the write mix, UpdateGrant alone, then pgbench at the same client count on its
# own database. UpdateGrant alone shows the write path without the wait for invitation
# emails that paces the mix.
run_writes() {
  measure writes --rpc=writes --concurrency="${write_clients}" --connections=2 \
    --writer_invitees="${writer_invitees}" \
    --mail_dir="${out_dir}/mail-a" --warmup="${warmup}" --duration="${duration}"
  psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 "$(database_url "${database}")" \
    -c "SELECT id, delegate_account_id, owner_account_id FROM grants
        WHERE revoke_time IS NULL ORDER BY random() LIMIT 10000" >"${out_dir}/update-grants.txt"
  measure update_grant --rpc=update_grant --concurrency="${write_clients}" --connections=2 \
    --grants_file="${out_dir}/update-grants.txt" --warmup="${warmup}" --duration="${duration}"

  local url
  url="$(database_url "${pgbench_database}")"
  log "initializing pgbench at scale ${pgbench_scale}"
  pgbench -i -q -s "${pgbench_scale}" "${url}" >"${out_dir}/pgbench-init.txt" 2>&1 ||
    die "pgbench -i failed: $(tail -n 5 "${out_dir}/pgbench-init.txt")"
  local seconds
  seconds="$(awk -v d="${duration%s}" 'BEGIN { print int(d + 0.999) }')"
  pgbench -M prepared -c "${write_clients}" -j 2 -T "${seconds}" "${url}" \
    >"${out_dir}/pgbench.txt" 2>&1 || die "pgbench failed: $(tail -n 5 "${out_dir}/pgbench.txt")"
  local tps failed
  tps="$(awk '/^tps = / { print $3; exit }' "${out_dir}/pgbench.txt")"
  failed="$(awk '/^number of failed transactions/ { print $5; exit }' "${out_dir}/pgbench.txt")"
  record "{\"name\": \"pgbench\", \"clients\": ${write_clients}, \"scale\": ${pgbench_scale},
    \"tps\": ${tps:-0}, \"failed\": ${failed:-0}}"
}

# Starts server B on the same database and revokes through A while polling B.
run_freshness() {
  local a_port="${server_port}" a_pid="${server_pid}"
  start_server b
  local b_port="${server_port}"
  server_port="${a_port}" server_pid="${a_pid}"
  psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 "$(database_url "${database}")" \
    -c "SELECT id, delegate_account_id, owner_account_id FROM grants
        WHERE revoke_time IS NULL AND expire_time IS NULL
        ORDER BY random() LIMIT $((2 * revokes))" >"${out_dir}/freshness-grants.txt"
  "${loadgen_bin}" --rpc=freshness --target="127.0.0.1:${a_port}" \
    --target_b="127.0.0.1:${b_port}" --service_token_file="${out_dir}/service-token" \
    --grants_file="${out_dir}/freshness-grants.txt" --revokes="${revokes}" --json \
    >"${out_dir}/freshness.txt" 2>"${out_dir}/freshness.err" ||
    die "ad-loadgen --rpc=freshness failed: $(cat "${out_dir}/freshness.err")"
  grep -v '^{' "${out_dir}/freshness.txt" | sed 's/^/  /' >&2
  tail -n 1 "${out_dir}/freshness.txt" | jq -c '{name: "freshness"} + .' \
    >>"${out_dir}/records.jsonl"
}

main() {
  local started=${SECONDS}
  if [[ "${install}" == true ]]; then tools/dev/install-deps.sh; fi
  build

  trap stop_all EXIT
  # Empties only a directory that is empty or contains an earlier run's results, so that a
  # mistyped --out_dir cannot delete other files.
  if [[ -n "$(ls -A "${out_dir}")" && ! -f "${out_dir}/records.jsonl" ]]; then
    die "--out_dir=${out_dir} is not empty and contains no earlier results; pick an empty directory"
  fi
  find "${out_dir}" -mindepth 1 -delete
  start_cluster
  write_service_token
  start_server a

  local largest
  largest="$(size_label "${sizes[-1]}")"
  run_growth
  run_sweep "${largest}"
  run_isolation "${largest}"
  run_writes
  run_freshness

  local seconds=$((SECONDS - started))
  log "suite finished in ${seconds} s"
  tools/bench/report.sh --out_dir="${out_dir}" --smoke="${smoke}" --seconds="${seconds}" \
    --build_type="$(build_type)"
}

main
