#!/usr/bin/env bash
# Writes throwaway certificates for the SDK's TLS tests into OUT_DIR: two unrelated CAs
# (ca.pem, other_ca.pem), a server certificate for localhost and 127.0.0.1 (server.pem,
# server.key) and a client certificate with the common name "sdk-test-client"
# (client.pem, client.key), both signed by ca.pem. Keys are P-256 and valid for 10 days,
# long enough for one build and its tests.
#
# Usage: make_test_certificates.sh OPENSSL OUT_DIR
set -euo pipefail

(($# == 2)) || { echo "usage: make_test_certificates.sh OPENSSL OUT_DIR" >&2; exit 2; }
openssl="$1"
out="$2"
mkdir -p "${out}"
cd "${out}"

readonly DAYS=10
readonly KEY_OPTIONS=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

make_ca() {
  local name="$1" subject="$2"
  "${openssl}" req -x509 "${KEY_OPTIONS[@]}" -keyout "${name}.key" -out "${name}.pem" \
    -days "${DAYS}" -subj "${subject}" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# Signs a new key for `name` with ca.pem; `extensions` are the X.509v3 lines.
make_leaf() {
  local name="$1" subject="$2" extensions="$3"
  "${openssl}" req -new "${KEY_OPTIONS[@]}" -keyout "${name}.key" -out "${name}.csr" \
    -subj "${subject}" 2>/dev/null
  printf '%s\n' "${extensions}" >"${name}.ext"
  "${openssl}" x509 -req -in "${name}.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "${DAYS}" -extfile "${name}.ext" -out "${name}.pem" 2>/dev/null
  rm -f "${name}.csr" "${name}.ext"
}

make_ca ca "/CN=AccessDelegation SDK test CA"
make_ca other_ca "/CN=Unrelated test CA"
make_leaf server "/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
make_leaf client "/CN=sdk-test-client" "extendedKeyUsage=clientAuth"
