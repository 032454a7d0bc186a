#!/bin/bash
# Installs what the lab (npm run test:lab) needs on a Debian 12 host, as root. Idempotent:
# installs only what is missing, so CI can call it before every run.
#   - Debian packages: User-Mode Linux (and a C compiler for its ptrace shim, harness/umlshim.ts)
#     and the userland of every stack the lab runs (etcd for service kube-apiserver, whose
#     kube-apiserver comes from test/k8s/build-go.sh); QEMU,
#     mmdebstrap, a static busybox and cpio for the ZFS guest (test/lab/zfs/build-image.sh: the
#     initramfs has no libc). busybox-static, not busybox: the two conflict, and the k8s lane
#     needs the static one too, so asking for busybox here swapped them on every CI run.
#   - /lib/modules: the mount point lab nodes bind the UML kernel's modules onto; /etc/multipath:
#     one nodes mount a tmpfs on (made here, before tests run: the dir pool's fuzz lane counts
#     every change under /etc as its own)
#   - csi-sanity (Go), when missing and a Go toolchain is present
set -euo pipefail

PACKAGES=(
  user-mode-linux kmod iproute2 mount util-linux netcat-openbsd
  lvm2 thin-provisioning-tools e2fsprogs xfsprogs
  targetcli-fb dbus open-iscsi multipath-tools udev
  nfs-kernel-server nfs-common rpcbind
  ceph-mon ceph-osd ceph-mgr ceph-base ceph-common
  openssh-server openssh-client
  etcd-server openssl curl
  qemu-system-x86 mmdebstrap busybox-static cpio
  gcc libc6-dev
)
CSI_SANITY=${CSI_SANITY:-/root/go/bin/csi-sanity}
CSI_SANITY_MODULE=github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0

if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: run as root" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  # Install only: the lab runs these daemons inside its UML nodes, never on this host.
  created_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
fi

mkdir -p /lib/modules /etc/multipath

if [ ! -x "$CSI_SANITY" ]; then
  go=$(command -v go || true)
  [ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
  if [ -n "$go" ]; then
    echo "install-deps.sh: installing csi-sanity ($CSI_SANITY_MODULE)"
    GOBIN=$(dirname "$CSI_SANITY") "$go" install "$CSI_SANITY_MODULE"
  else
    echo "install-deps.sh: no csi-sanity at $CSI_SANITY and no Go toolchain to build it" >&2
    exit 1
  fi
fi
echo "install-deps.sh: done"
