#!/usr/bin/env bash
# Runs a command against a fresh AccessDelegation server: creates a database on the
# cluster named by ACCESSDELEGATION_TEST_DATABASE_URL, starts the server binary on a free
# port of 127.0.0.1 with a new service token, runs the command, then stops the server and
# drops the database. Exits with the command's status, or 1 when the setup fails.
#
# Usage: tests/support/with_server.sh SERVER_BIN COMMAND [ARG...]
#
# The command runs with these variables set:
#   ACCESSDELEGATION_TARGET              the server's address, 127.0.0.1:<port>
#   ACCESSDELEGATION_SERVICE_TOKEN_FILE  a file that contains the raw service token
#   ACCESSDELEGATION_MAIL_DIR            the directory that receives the server's emails
#   ACCESSDELEGATION_SERVER_DATABASE_URL the URL of the server's database, after migrations
#
# ACCESSDELEGATION_TEST_DATABASE_URL is a postgres:// or postgresql:// URL of a database on
# which the user may CREATE DATABASE, such as postgresql://postgres@127.0.0.1:54330/postgres.
# psql must be on PATH.
set -euo pipefail

readonly SERVER_START_TIMEOUT_SECONDS=60
readonly SERVER_STOP_TIMEOUT_SECONDS=10
readonly PORT_ATTEMPTS=5

log() {
  echo "[with_server.sh] $*" >&2
}

die() {
  echo "[with_server.sh] error: $*" >&2
  exit 1
}

(($# >= 2)) || die "usage: tests/support/with_server.sh SERVER_BIN COMMAND [ARG...]"
server_bin="$1"
shift
[[ -x "${server_bin}" ]] || die "server binary ${server_bin} is missing or not executable"
admin_url="${ACCESSDELEGATION_TEST_DATABASE_URL:-}"
[[ "${admin_url}" =~ ^postgres(ql)?://[^/]+/[^/?]*(\?.*)?$ ]] ||
  die "ACCESSDELEGATION_TEST_DATABASE_URL='${admin_url}' is not a postgresql://host/database URL"
command -v psql >/dev/null || die "psql is missing; install postgresql-client"

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/accessdelegation-with-server.XXXXXX")"
database="with_server_$(date +%s)_$$_${RANDOM}"
# The admin URL with its database name replaced, keeping any ?parameters.
query=""
if [[ "${admin_url}" == *\?* ]]; then
  query="?${admin_url#*\?}"
fi
base="${admin_url%%\?*}"
database_url="${base%/*}/${database}${query}"
server_pid=""
database_created=false

cleanup() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    for _ in $(seq 1 $((SERVER_STOP_TIMEOUT_SECONDS * 10))); do
      kill -0 "${server_pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  if [[ "${database_created}" == true ]]; then
    psql -X -q "${admin_url}" -c "DROP DATABASE IF EXISTS \"${database}\" WITH (FORCE)" \
      >/dev/null || log "dropping database ${database} failed"
  fi
  rm -rf -- "${work_dir}"
}
trap cleanup EXIT

# Returns success when something accepts TCP connections on 127.0.0.1:$1.
port_accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts the server on a random port and waits until it accepts connections. Returns 1
# when the server exits first, for example because another process took the port.
start_server() {
  local port="$1"
  "${server_bin}" \
    --listen_address="127.0.0.1:${port}" \
    --database_url="${database_url}" \
    --database_pool_size=4 \
    --mail_dir="${work_dir}/mail" \
    --service_token_file="${work_dir}/service-tokens" \
    --secret_key_file="${work_dir}/secret.key" \
    --undefok=metrics_address --metrics_address= \
    >"${work_dir}/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 $((SERVER_START_TIMEOUT_SECONDS * 10))); do
    if ! kill -0 "${server_pid}" 2>/dev/null; then
      wait "${server_pid}" 2>/dev/null || true
      server_pid=""
      return 1
    fi
    if port_accepts "${port}"; then
      return 0
    fi
    sleep 0.1
  done
  die "the server did not accept connections on 127.0.0.1:${port} within ${SERVER_START_TIMEOUT_SECONDS}s; its log: $(cat "${work_dir}/server.log")"
}

psql -X -q "${admin_url}" -c "CREATE DATABASE \"${database}\"" >/dev/null ||
  die "CREATE DATABASE ${database} failed on ${admin_url}"
database_created=true

mkdir -p "${work_dir}/mail"
token="$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
(umask 077 && printf '%s' "${token}" >"${work_dir}/service-token")
printf 'with-server %s\n' "$(printf '%s' "${token}" | sha256sum | cut -d ' ' -f 1)" \
  >"${work_dir}/service-tokens"

port=""
for _ in $(seq 1 "${PORT_ATTEMPTS}"); do
  candidate=$((20000 + RANDOM % 40000))
  port_accepts "${candidate}" && continue
  if start_server "${candidate}"; then
    port="${candidate}"
    break
  fi
  log "the server exited while starting on port ${candidate}; its log: $(cat "${work_dir}/server.log")"
done
[[ -n "${port}" ]] || die "the server did not start after ${PORT_ATTEMPTS} attempts"
log "server ${server_pid} is serving on 127.0.0.1:${port}"

status=0
ACCESSDELEGATION_TARGET="127.0.0.1:${port}" \
  ACCESSDELEGATION_SERVICE_TOKEN_FILE="${work_dir}/service-token" \
  ACCESSDELEGATION_MAIL_DIR="${work_dir}/mail" \
  ACCESSDELEGATION_SERVER_DATABASE_URL="${database_url}" \
  "$@" || status=$?
if ((status != 0)); then
  log "the command exited with status ${status}; the server's log follows"
  cat "${work_dir}/server.log" >&2
fi
exit "${status}"
