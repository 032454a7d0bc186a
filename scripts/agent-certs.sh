#!/usr/bin/env bash
# Prints the two Secrets of the controller -> node agent mutual TLS (what the chart generates
# with agent.tls.generate), for installs from manifests/ or with agent.tls.generate=false:
#   scripts/agent-certs.sh [NAMESPACE [FULLNAME [DAYS]]] | kubectl apply -f -
# A new CA each run: apply once, then restart the poolcsi pods after any re-run.
set -euo pipefail
NAMESPACE="${1:-poolcsi}"
FULLNAME="${2:-poolcsi}"
DAYS="${3:-3650}"
SERVER_NAME=poolcsi-agent   # the name the controller verifies (poolcsi.agentServerName)

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=poolcsi-agent-ca" -days "$DAYS" -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

# sign NAME CN EXTENSIONS
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
sign server "$SERVER_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$SERVER_NAME"
sign client "$FULLNAME-controller" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

b64() { base64 <"$1" | tr -d '\n'; }
for role in server client; do
  cat <<YAML
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: $FULLNAME-agent-$role
  namespace: $NAMESPACE
data:
  ca.crt: $(b64 ca.crt)
  tls.crt: $(b64 "$role.crt")
  tls.key: $(b64 "$role.key")
YAML
done
