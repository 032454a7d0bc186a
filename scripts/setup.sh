#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (run as root): the Debian
# packages of the node tools and the lab (test/lab/install-deps.sh, which also installs
# csi-sanity), those of the Kubernetes lane (test/k8s/install-deps.sh: its image test needs
# buildah before the lane's own setup runs), the few packages only unit tests use, the npm
# dependencies, and helm.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/lab/install-deps.sh
bash test/k8s/install-deps.sh

# Tools the driver may call outside the lab's set (dir pool quotas, btrfs, openssl for certs).
EXTRA=(btrfs-progs quota openssl)
missing=()
for p in "${EXTRA[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error

bash scripts/install-helm.sh >/dev/null
echo "setup: done"
