#!/usr/bin/env bash
# Manages a project-private PostgreSQL 15 cluster for development and tests. It never
# touches the system's clusters or services.
#
# A cluster made here is for development and tests only: it trusts every connection
# (no password) and listens on 127.0.0.1 and on a unix socket inside <dir>. Its superuser
# is "postgres", so the URL is postgresql://postgres@127.0.0.1:<port>/accessdelegation.
# It also has the login role "accessdelegation_server", a member of the group role
# "accessdelegation_app" that migration 0007 grants row access to: the server runs as it
# with --database_url and applies migrations as postgres with --migrate_database_url.
#
# initdb and postgres refuse to run as root. As root, this script runs them as the
# "postgres" system user (created by Debian's postgresql package) and gives it <dir>;
# otherwise they run as the current user.
#
# Usage:
#   tools/dev/pg.sh start <dir> <port> [--fsync-off]
#       Create the cluster in <dir> if missing, start it on <port>, wait until it accepts
#       connections and create the database "accessdelegation" if missing.
#       --fsync-off skips flushes to disk: faster, but a crash can corrupt the cluster.
#   tools/dev/pg.sh standby <dir> <port> <primary-port> [--fsync-off]
#       Create a streaming-replication standby of the cluster on 127.0.0.1:<primary-port>
#       in <dir> with pg_basebackup -R if missing, then start it as "start" does. The
#       standby is read-only and replays the primary's changes.
#   tools/dev/pg.sh stop <dir>     Stop the cluster (fast shutdown).
#   tools/dev/pg.sh status <dir>   Print whether the cluster is running.
#   tools/dev/pg.sh remove <dir>   Stop the cluster and delete its files.
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly USAGE="usage: tools/dev/pg.sh start <dir> <port> [--fsync-off] | standby <dir> <port> <primary-port> [--fsync-off] | stop <dir> | status <dir> | remove <dir>"
readonly DATABASE="accessdelegation"
readonly OS_USER="postgres"
# Maximum length in bytes of a unix socket path: sun_path is 108 bytes including the
# terminating NUL.
readonly MAX_SOCKET_PATH=107

is_root() {
  [[ "$(id -u)" -eq 0 ]]
}

# Runs a PostgreSQL server program as the user that owns the cluster. The working
# directory is / because the repository may not be readable by that user.
run_as_owner() {
  if is_root; then
    (cd / && runuser -u "${OS_USER}" -- "$@")
  else
    "$@"
  fi
}

# Returns success when the cluster owner can write to the directory $1.
owner_can_write() {
  if is_root; then
    (cd / && runuser -u "${OS_USER}" -- test -w "$1" -a -x "$1")
  else
    [[ -w "$1" && -x "$1" ]]
  fi
}

is_running() {
  run_as_owner "${PG_BIN}/pg_ctl" status -D "$1" >/dev/null 2>&1
}

# Prints the absolute, symlink-free path of the existing directory $1.
resolve_dir() {
  (cd "$1" && pwd -P)
}

# Creates the cluster directory $1 if missing, gives it to the cluster owner and prints
# its resolved path. When root and the postgres user cannot reach $1 (say, a clone under
# /root), the files go to a new directory under /var/tmp and $1 becomes a symlink to it.
prepare_dir() {
  local dir="$1"
  mkdir -p "${dir}"
  local real
  real="$(resolve_dir "${dir}")"
  if ! is_root; then
    chmod 700 "${real}"
    echo "${real}"
    return
  fi

  chown "${OS_USER}:${OS_USER}" "${real}"
  chmod 700 "${real}"
  if owner_can_write "${real}"; then
    echo "${real}"
    return
  fi

  [[ -z "$(ls -A "${real}")" ]] ||
    die "user ${OS_USER} cannot reach ${real}, which is not empty; remove it or pick a directory that ${OS_USER} can traverse"
  local outside
  outside="$(mktemp -d /var/tmp/accessdelegation-pg.XXXXXX)"
  chown "${OS_USER}:${OS_USER}" "${outside}"
  chmod 700 "${outside}"
  rmdir "${real}"
  ln -s "${outside}" "${dir}"
  log "user ${OS_USER} cannot reach ${real}; keeping the cluster in ${outside} instead"
  echo "${outside}"
}

init_cluster() {
  local real="$1"
  local output
  log "creating a cluster in ${real}"
  if ! output="$(run_as_owner "${PG_BIN}/initdb" -D "${real}" --username=postgres \
      --auth=trust --encoding=UTF8 --locale=C.UTF-8 2>&1)"; then
    echo "${output}" >&2
    die "initdb failed for ${real}"
  fi
  # The settings that vary per start live in a file that postgresql.conf includes, so
  # the rest of postgresql.conf stays as initdb wrote it.
  echo "include_if_exists = 'accessdelegation.conf'" >>"${real}/postgresql.conf"
}

# Writes the settings for one start: loopback only, the given port, the socket in the
# cluster directory and, for test clusters, no fsync.
write_settings() {
  local real="$1" port="$2" fsync="$3"
  local quoted_dir="${real//\'/\'\'}"
  cat >"${real}/accessdelegation.conf" <<EOF
# Written by tools/dev/pg.sh at each start; edits here are lost.
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${quoted_dir}'
fsync = ${fsync}
EOF
  if is_root; then
    chown "${OS_USER}:${OS_USER}" "${real}/accessdelegation.conf"
  fi
}

wait_until_ready() {
  local port="$1"
  for _ in $(seq 1 60); do
    if "${PG_BIN}/pg_isready" -q -h 127.0.0.1 -p "${port}" -U postgres -d postgres; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

create_database() {
  local port="$1"
  local exists
  exists="$("${PG_BIN}/psql" -X -q -At -h 127.0.0.1 -p "${port}" -U postgres -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'")"
  if [[ "${exists}" != "1" ]]; then
    log "creating database ${DATABASE}"
    "${PG_BIN}/createdb" -h 127.0.0.1 -p "${port}" -U postgres "${DATABASE}"
  fi
}

# Creates the application's group role and its login role unless they exist. Roles belong
# to the cluster, so this runs once for every database in it.
create_roles() {
  local port="$1"
  "${PG_BIN}/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port}" -U postgres -d postgres <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accessdelegation_app') THEN
    CREATE ROLE accessdelegation_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accessdelegation_server') THEN
    CREATE ROLE accessdelegation_server LOGIN IN ROLE accessdelegation_app;
  END IF;
END;
$$;
SQL
}

start_cluster() {
  local dir="$1" port="$2" fsync="$3"
  if [[ ! "${port}" =~ ^[0-9]+$ ]] || ((port < 1024 || port > 65535)); then
    die "invalid port '${port}'; expected a number from 1024 to 65535"
  fi
  [[ -x "${PG_BIN}/postgres" ]] ||
    die "${PG_BIN}/postgres is missing; run tools/dev/install-deps.sh"
  if is_root; then
    id "${OS_USER}" >/dev/null 2>&1 ||
      die "system user ${OS_USER} is missing; run tools/dev/install-deps.sh"
  fi

  local real
  real="$(prepare_dir "${dir}")"
  local socket="${real}/.s.PGSQL.${port}"
  ((${#socket} <= MAX_SOCKET_PATH)) ||
    die "socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter <dir>"

  if [[ ! -f "${real}/PG_VERSION" ]]; then
    init_cluster "${real}"
  fi

  if is_running "${real}"; then
    # Line 4 of postmaster.pid is the port the running server listens on.
    local running_port
    running_port="$(sed -n 4p "${real}/postmaster.pid")"
    if [[ "${running_port}" != "${port}" ]]; then
      die "cluster in ${real} is running on port ${running_port}, not ${port}; stop it first: tools/dev/pg.sh stop ${dir}"
    fi
    log "cluster in ${real} is already running"
    wait_until_ready "${port}" ||
      die "cluster in ${real} does not accept connections on port ${port}; see ${real}/postgres.log"
  else
    write_settings "${real}" "${port}" "${fsync}"
    log "starting the cluster in ${real} on 127.0.0.1:${port}"
    if ! run_as_owner "${PG_BIN}/pg_ctl" start -D "${real}" -l "${real}/postgres.log" \
        -w -t 60 -s; then
      tail -n 20 "${real}/postgres.log" >&2 || true
      die "the cluster did not start; the full log is ${real}/postgres.log"
    fi
    wait_until_ready "${port}" ||
      die "the cluster does not accept connections on port ${port}; see ${real}/postgres.log"
  fi

  create_database "${port}"
  create_roles "${port}"
  log "ready: postgresql://postgres@127.0.0.1:${port}/${DATABASE} (log: ${real}/postgres.log)"
}

# Copies the primary on port $3 into the directory $1 as a standby, unless $1 already
# contains a cluster, and starts it on port $2 with fsync $4.
start_standby() {
  local dir="$1" port="$2" primary_port="$3" fsync="$4"
  if [[ ! "${primary_port}" =~ ^[0-9]+$ ]]; then
    die "invalid primary port '${primary_port}'; expected a number"
  fi
  [[ -x "${PG_BIN}/pg_basebackup" ]] ||
    die "${PG_BIN}/pg_basebackup is missing; run tools/dev/install-deps.sh"
  local real
  real="$(prepare_dir "${dir}")"
  if [[ ! -f "${real}/PG_VERSION" ]]; then
    log "copying the primary on port ${primary_port} into ${real}"
    run_as_owner "${PG_BIN}/pg_basebackup" -h 127.0.0.1 -p "${primary_port}" -U postgres \
      -D "${real}" -R -X stream -c fast ||
      die "pg_basebackup from port ${primary_port} failed"
  fi
  start_cluster "${dir}" "${port}" "${fsync}"
}

stop_cluster() {
  local dir="$1"
  if [[ ! -f "${dir}/PG_VERSION" ]]; then
    log "no cluster in ${dir}; nothing to stop"
    return 0
  fi
  local real
  real="$(resolve_dir "${dir}")"
  if ! is_running "${real}"; then
    log "cluster in ${real} is not running"
    return 0
  fi
  run_as_owner "${PG_BIN}/pg_ctl" stop -D "${real}" -m fast -w -t 60 -s
  log "stopped the cluster in ${real}"
}

status_cluster() {
  local dir="$1"
  if [[ ! -f "${dir}/PG_VERSION" ]]; then
    echo "no cluster in ${dir}"
  elif is_running "$(resolve_dir "${dir}")"; then
    echo "running: ${dir}"
  else
    echo "stopped: ${dir}"
  fi
}

remove_cluster() {
  local dir="$1"
  if [[ ! -e "${dir}" ]]; then
    return 0
  fi
  # Reject anything that is neither empty nor a cluster, so a wrong argument deletes
  # nothing else.
  [[ -f "${dir}/PG_VERSION" || -z "$(ls -A "${dir}")" ]] ||
    die "${dir} is not a PostgreSQL cluster directory; not deleting it"
  stop_cluster "${dir}"
  if [[ -L "${dir}" ]]; then
    rm -rf -- "$(readlink -f "${dir}")"
    rm -f -- "${dir}"
  else
    rm -rf -- "${dir}"
  fi
  log "removed ${dir}"
}

main() {
  (($# >= 2)) || die "${USAGE}"
  local command="$1" dir="$2"
  shift 2
  case "${command}" in
    start)
      (($# >= 1)) || die "${USAGE}"
      local port="$1"
      shift
      local fsync=on
      for arg in "$@"; do
        case "${arg}" in
          --fsync-off) fsync=off ;;
          *) die "unknown argument '${arg}'; ${USAGE}" ;;
        esac
      done
      start_cluster "${dir}" "${port}" "${fsync}"
      ;;
    standby)
      (($# >= 2)) || die "${USAGE}"
      local standby_port="$1" primary_port="$2"
      shift 2
      local standby_fsync=on
      for arg in "$@"; do
        case "${arg}" in
          --fsync-off) standby_fsync=off ;;
          *) die "unknown argument '${arg}'; ${USAGE}" ;;
        esac
      done
      start_standby "${dir}" "${standby_port}" "${primary_port}" "${standby_fsync}"
      ;;
    stop | status | remove)
      (($# == 0)) || die "${USAGE}"
      "${command}_cluster" "${dir}"
      ;;
    *) die "unknown command '${command}'; ${USAGE}" ;;
  esac
}

main "$@"
