#!/usr/bin/env bash
# Runs AccessDelegation under mixed load for a long time while its database restarts, and
# reports the errors by kind and whether the server's memory and open files stay flat.
# Not part of CI: the default run takes 10 minutes.
#
# Steps: build the server, ad-loadgen and adctl into build/ (or $ACCESSDELEGATION_BUILD_DIR)
# unless --no_build. Start a fresh private PostgreSQL cluster (var/soak/pg, --pg_port) with
# the application role, and the server on 127.0.0.1:--server_port as that role. Seed 2000
# grants. Then, for --duration, all at once:
#   - ad-loadgen keeps 16 CheckAccess calls in flight (reads);
#   - a writer loop creates accounts with adctl, one after another (writes, audit rows);
#   - every --restart_every the cluster stops (fast shutdown) and starts 3 seconds later.
# Resident memory (VmRSS, the smallest of 20 readings over 2 seconds) and open file
# descriptors of the server are read from /proc under load twice: 10 seconds after the
# start, before the first restart, and 5 seconds before the end, when the database has been
# up for at least 15 seconds. The run fails when either grows by more than 10%.
# Results go to var/soak/report.txt, with the server log and each tool's output beside it.
#
# Usage: tools/soak/run.sh [--duration=SECONDS] [--restart_every=SECONDS] [--no_build]
#                          [--pg_port=PORT] [--server_port=PORT]
#   --duration       seconds of load (default 600)
#   --restart_every  seconds between database restarts (default 60)
#   --pg_port        port of the soak cluster (default 54354)
#   --server_port    port of the server (default 54355)
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/common.sh"

readonly OUT_DIR="var/soak"
readonly PG_DIR="${OUT_DIR}/pg"
readonly MAX_GROWTH_PERCENT=10

duration=600
restart_every=60
build=1
pg_port=54354
server_port=54355
for arg in "$@"; do
  case "${arg}" in
    --duration=*) duration="${arg#*=}" ;;
    --restart_every=*) restart_every="${arg#*=}" ;;
    --pg_port=*) pg_port="${arg#*=}" ;;
    --server_port=*) server_port="${arg#*=}" ;;
    --no_build) build=0 ;;
    *) die "unknown argument '${arg}'; see the usage at the top of tools/soak/run.sh" ;;
  esac
done
[[ "${duration}" =~ ^[0-9]+$ && "${restart_every}" =~ ^[0-9]+$ ]] ||
  die "--duration and --restart_every must be whole seconds"
((restart_every >= 10)) || die "--restart_every must be at least 10 seconds"

cd "${REPO_ROOT}"
if ((build)); then
  tools/dev/build.sh accessdelegation-server ad-loadgen adctl >&2
fi
readonly SERVER_BIN="${BUILD_DIR}/server/accessdelegation-server"
readonly LOADGEN_BIN="${BUILD_DIR}/tools/bench/ad-loadgen"
readonly ADCTL_BIN="${BUILD_DIR}/tools/adctl/adctl"
for binary in "${SERVER_BIN}" "${LOADGEN_BIN}" "${ADCTL_BIN}"; do
  [[ -x "${binary}" ]] || die "${binary} is missing; run without --no_build"
done

tools/dev/pg.sh remove "${PG_DIR}" >/dev/null 2>&1 || true
rm -rf "${OUT_DIR}"
mkdir -p "${OUT_DIR}/mail"
readonly OWNER_URL="postgresql://postgres@127.0.0.1:${pg_port}/accessdelegation"
readonly APP_URL="postgresql://accessdelegation_server@127.0.0.1:${pg_port}/accessdelegation"
readonly TARGET="127.0.0.1:${server_port}"

server_pid=""
background_pids=()
cleanup() {
  for pid in "${background_pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  if [[ -n "${server_pid}" ]]; then kill "${server_pid}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  tools/dev/pg.sh stop "${PG_DIR}" >/dev/null 2>&1 || true
}
trap cleanup EXIT

tools/dev/pg.sh start "${PG_DIR}" "${pg_port}" --fsync-off >&2

token="$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
(umask 077 && printf '%s' "${token}" >"${OUT_DIR}/service-token")
(umask 077 && printf 'soak %s\n' "$(printf '%s' "${token}" | sha256sum | cut -d ' ' -f 1)" \
  >"${OUT_DIR}/service-tokens")
printf 'soak password 0123456789\n' >"${OUT_DIR}/password"

"${SERVER_BIN}" \
  --listen_address="${TARGET}" \
  --metrics_address= \
  --database_url="${APP_URL}" \
  --migrate_database_url="${OWNER_URL}" \
  --mail_dir="${OUT_DIR}/mail" \
  --service_token_file="${OUT_DIR}/service-tokens" \
  --secret_key_file="${OUT_DIR}/secret.key" \
  --health_check_interval=500ms \
  --log_level=warn \
  >"${OUT_DIR}/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  if "${LOADGEN_BIN}" --target="${TARGET}" --rpc=health --concurrency=1 --warmup=0s \
      --duration=100ms >/dev/null 2>&1; then
    break
  fi
  kill -0 "${server_pid}" 2>/dev/null || die "the server exited: $(cat "${OUT_DIR}/server.log")"
  sleep 0.2
done

tools/bench/seed.sh --database_url="${OWNER_URL}" --grants=2000 \
  --pairs_file="${OUT_DIR}/pairs.txt" --tag=soak >&2

# Prints the server's smallest VmRSS in kB over 20 readings 100 ms apart. CreateAccount
# hashes the password with Argon2id, which allocates 64 MiB while it runs (libsodium's
# MEMLIMIT_INTERACTIVE), so a single reading mostly shows whether a hash was running.
rss_kb() {
  local smallest="" value
  for _ in $(seq 20); do
    value="$(awk '/^VmRSS:/ { print $2 }' "/proc/${server_pid}/status")"
    if [[ -z "${smallest}" ]] || ((value < smallest)); then smallest="${value}"; fi
    sleep 0.1
  done
  echo "${smallest}"
}
fd_count() { find "/proc/${server_pid}/fd" -mindepth 1 -maxdepth 1 | wc -l; }

"${LOADGEN_BIN}" --target="${TARGET}" --rpc=check_access --concurrency=16 --connections=2 \
  --service_token_file="${OUT_DIR}/service-token" --pairs_file="${OUT_DIR}/pairs.txt" \
  --warmup=0s --duration="${duration}s" --call_timeout=5s --json \
  >"${OUT_DIR}/loadgen.out" 2>&1 &
background_pids+=($!)

# Creates accounts until the duration ends and appends each outcome, OK or the gRPC code
# that adctl printed, to writes.log.
write_loop() {
  local end=$((SECONDS + duration)) n=0
  while ((SECONDS < end)); do
    n=$((n + 1))
    if "${ADCTL_BIN}" --target="${TARGET}" --service_token_file="${OUT_DIR}/service-token" \
        create-account --email="soak-${n}@example.test" --first_name=Soak --last_name=Writer \
        --phone_number=+14155550123 --password_file="${OUT_DIR}/password" \
        >/dev/null 2>"${OUT_DIR}/adctl.err"; then
      echo OK
    else
      grep -oE '[A-Z_]{5,}' "${OUT_DIR}/adctl.err" | head -n 1 || echo UNKNOWN
    fi
  done >"${OUT_DIR}/writes.log"
}
write_loop &
background_pids+=($!)

load_start=${SECONDS}
sleep 10
rss_start="$(rss_kb)"
fd_start="$(fd_count)"
log "start: RSS ${rss_start} kB, ${fd_start} open fds"

# Restarts stop 15 seconds before the end, so that the final readings see a healthy server.
restarts=0
while ((SECONDS - load_start + restart_every < duration - 15)); do
  sleep "$((restart_every - 3))"
  tools/dev/pg.sh stop "${PG_DIR}" >/dev/null
  sleep 3
  tools/dev/pg.sh start "${PG_DIR}" "${pg_port}" --fsync-off >/dev/null
  restarts=$((restarts + 1))
  log "database restart ${restarts} done"
done

# The end readings are taken under load too, 5 seconds before it stops, to compare like
# with like.
remaining=$((duration - 5 - (SECONDS - load_start)))
if ((remaining > 0)); then sleep "${remaining}"; fi
rss_end="$(rss_kb)"
fd_end="$(fd_count)"
wait "${background_pids[@]}" || true
background_pids=()

growth() { echo $(((($2 - $1) * 100) / $1)); }
rss_growth="$(growth "${rss_start}" "${rss_end}")"
fd_growth="$(growth "${fd_start}" "${fd_end}")"

{
  echo "soak: ${duration}s, ${restarts} database restarts, server pid ${server_pid}"
  echo "reads (ad-loadgen CheckAccess, 16 in flight):"
  grep -E '^(calls|errors|throughput)' "${OUT_DIR}/loadgen.out" | sed 's/^/  /' || true
  echo "  $(tail -n 1 "${OUT_DIR}/loadgen.out" | grep -oE '"failures_by_code":\{[^}]*\}' || true)"
  echo "writes (adctl create-account, one at a time), by outcome:"
  sort "${OUT_DIR}/writes.log" | uniq -c | sed 's/^ */  /'
  echo "server RSS: ${rss_start} kB at start, ${rss_end} kB at end (${rss_growth}%)"
  echo "server open fds: ${fd_start} at start, ${fd_end} at end (${fd_growth}%)"
} | tee "${OUT_DIR}/report.txt"

kill -0 "${server_pid}" 2>/dev/null || die "the server died during the soak; see ${OUT_DIR}/server.log"
((rss_growth <= MAX_GROWTH_PERCENT)) || die "server RSS grew by ${rss_growth}%"
((fd_growth <= MAX_GROWTH_PERCENT)) || die "server open fds grew by ${fd_growth}%"
log "soak passed"
