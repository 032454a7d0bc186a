#!/usr/bin/env bash
# Debian packages the k8s lane needs (run as root; idempotent): etcd, containerd + runc, the CNI
# plugins, a static busybox (pause and test-pod image), buildah (daemonless image builds) and
# mmdebstrap (stand-in base images, since no image can be pulled). No service is started:
# the lane starts its own etcd and containerd on its own sockets and ports.
set -euo pipefail
PKGS=(etcd-server etcd-client containerd runc containernetworking-plugins busybox-static buildah mmdebstrap
      iptables openssl socat conntrack)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
echo "k8s install-deps: installing ${missing[*]}"
# Packages must not start their daemons (etcd's init script would take 127.0.0.1:2379).
policy=/usr/sbin/policy-rc.d
added=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; added=1
fi
trap '[[ -n $added ]] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
# Belt and braces: if a package started its daemon anyway, stop it (by pid file only).
for svc in etcd containerd; do
  [[ -x /etc/init.d/$svc ]] && /etc/init.d/$svc stop >/dev/null 2>&1 || true
done
