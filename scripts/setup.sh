#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (run as root):
# Debian packages (storage tools, User-Mode Linux and the daemons the lab runs), the npm
# dependencies, csi-sanity (Go module proxy) and helm (for the chart tests).
set -euo pipefail
cd "$(dirname "$0")/.."

CSI_SANITY_VERSION=v5.4.0
GOBIN_DIR="$(go env GOPATH)/bin"

PACKAGES=(
  # node plugin tools used by unit/sanity tests and every backend
  util-linux mount e2fsprogs xfsprogs btrfs-progs kmod quota
  # the lab: real kernels and daemons in User-Mode Linux (see docs/lab.md)
  user-mode-linux lvm2 thin-provisioning-tools targetcli-fb open-iscsi nfs-kernel-server rpcbind
  dbus ceph-mon ceph-osd ceph-mgr ceph-common openssh-server openssh-client iproute2 netcat-openbsd openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# UML finds its modules under /lib/modules, which this host kernel does not have.
mkdir -p /lib/modules

echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error

if [[ ! -x "$GOBIN_DIR/csi-sanity" ]] || ! "$GOBIN_DIR/csi-sanity" --help 2>&1 | grep -q csi.endpoint; then
  echo "setup: installing csi-sanity $CSI_SANITY_VERSION"
  GOFLAGS=-mod=mod go install "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_SANITY_VERSION"
fi

if [[ -x scripts/install-helm.sh ]]; then
  bash scripts/install-helm.sh
fi
echo "setup: done"
