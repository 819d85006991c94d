#!/usr/bin/env bash
# Installs the packages, builds the server, ad-walkthrough, adctl and the Python stubs,
# starts a private PostgreSQL cluster and runs the AccessDelegation server on
# 127.0.0.1:50051 in the foreground. Ctrl-C stops the server; the cluster keeps running
# until `tools/dev/pg.sh stop var/pg`.
#
# Everything it creates is under var/: the cluster (var/pg, port 54329), the emails the
# server sends (var/mail/*.eml), a service token for local tools (var/service-token) and
# its hash for the server (var/service-tokens).
#
# Usage: tools/dev/run-local.sh
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly PG_PORT=54329
readonly LISTEN_ADDRESS="127.0.0.1:50051"
readonly PORTAL_BASE_URL="http://localhost:8080"

# Creates var/service-token once (32 random bytes as 64 hex digits, mode 0600) and
# rewrites var/service-tokens, which names it "local-dev" and contains its SHA-256 in hex.
write_service_token() {
  local token_file="var/service-token"
  local tokens_file="var/service-tokens"
  if [[ ! -s "${token_file}" ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"${token_file}")
    log "created a new service token in ${token_file}"
  fi
  chmod 600 "${token_file}"

  local token hash
  token="$(<"${token_file}")"
  hash="$(printf '%s' "${token}" | sha256sum | cut -d ' ' -f 1)"
  (umask 077 && printf '# <name> <sha256-hex-of-token>, written by tools/dev/run-local.sh\nlocal-dev %s\n' \
    "${hash}" >"${tokens_file}")
}

cd "${REPO_ROOT}"
tools/dev/install-deps.sh
tools/dev/build.sh accessdelegation-server ad-walkthrough adctl accessdelegation_python
tools/dev/pg.sh start var/pg "${PG_PORT}"

mkdir -p var/mail
write_service_token

server="${BUILD_DIR}/server/accessdelegation-server"
[[ -x "${server}" ]] || die "${server} was not built; check the output of tools/dev/build.sh"

cat >&2 <<EOF

AccessDelegation at ${LISTEN_ADDRESS} (gRPC, plaintext, with server reflection)
  service token:  ${REPO_ROOT}/var/service-token  (use as: Authorization: Bearer <token>)
  sent emails:    ${REPO_ROOT}/var/mail/*.eml
  database:       postgresql://postgres@127.0.0.1:${PG_PORT}/accessdelegation
Ctrl-C stops the server. The database keeps running; stop it with:
  tools/dev/pg.sh stop var/pg

EOF

exec "${server}" \
  --listen_address="${LISTEN_ADDRESS}" \
  --database_url="postgresql://accessdelegation_server@127.0.0.1:${PG_PORT}/accessdelegation" \
  --migrate_database_url="postgresql://postgres@127.0.0.1:${PG_PORT}/accessdelegation" \
  --mail_dir=var/mail \
  --service_token_file=var/service-tokens \
  --secret_key_file=var/secret.key \
  --portal_base_url="${PORTAL_BASE_URL}"
