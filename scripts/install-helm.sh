#!/usr/bin/env bash
# Installs the pinned Helm used by the chart tests, built from source through the Go module
# proxy (the only place these machines can get it), and prints its path. Idempotent: a second
# run only prints the path. Override the location with HELM_INSTALL_DIR.
set -euo pipefail

HELM_VERSION=v3.22.0
# Helm's Makefile stamps its version and the Kubernetes version `helm template` assumes
# (client-go v0.37 -> 1.37); a plain `go install` would claim Kubernetes 1.20.
K8S_MAJOR=1
K8S_MINOR=37
DIR="${HELM_INSTALL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/poolcsi/helm-$HELM_VERSION}"
HELM="$DIR/helm"

if [[ -x "$HELM" ]] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  echo "$HELM"
  exit 0
fi

GO="$(command -v go || true)"
[[ -n "$GO" ]] || [[ ! -x /usr/local/go/bin/go ]] || GO=/usr/local/go/bin/go
[[ -n "$GO" ]] || { echo "install-helm: needs Go to build helm $HELM_VERSION" >&2; exit 1; }
mkdir -p "$DIR"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done
echo "install-helm: building helm $HELM_VERSION into $DIR (a few minutes the first time)" >&2
GOBIN="$DIR" GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
"$HELM" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" || { echo "install-helm: built helm does not report $HELM_VERSION" >&2; exit 1; }
echo "$HELM"
