#!/bin/bash
# Builds the ZFS lab guest, or finds it in the cache: a Debian bookworm root file system (main +
# contrib) with the Debian amd64 kernel and OpenZFS from zfs-dkms, built by dkms for exactly that
# kernel inside the chroot; packed with `mkfs.ext4 -d` (no loop device), plus the kernel.
# build-initrd.sh adds the initramfs that boots it. sshd, rtslib (targetctl) and nc let the
# guest serve as a `zfs-iscsi` storage host reached over SSH.
#
# The cache directory is keyed by content: this script's hash and the resolved versions of the
# kernel and zfs-dkms, so a second run (or a run after an unrelated change) reuses the image, and
# a new kernel or ZFS upload in the archive builds a new one. Prints the image directory last.
#   usage: build-image.sh            env: POOLCSI_ZFS_CACHE (default /var/tmp/poolcsi-cache/zfs)
# Needs root and mmdebstrap (test/lab/install-deps.sh). About 20 CPU-minutes cold.
set -euo pipefail
CACHE=${POOLCSI_ZFS_CACHE:-/var/tmp/poolcsi-cache/zfs}
MIRROR=http://deb.debian.org/debian
SEC=http://deb.debian.org/debian-security
# The kernel flavour with 9p (the cloud flavour has none): the guest sees the host read-only.
FLAVOUR=amd64
SELF=$(readlink -f "$0")
mkdir -p "$CACHE"
log() { echo "zfs-image: $*" >&2; }
# A killed mmdebstrap leaves the host's /proc, /sys and /dev/shm mounted inside its scratch root:
# unmount those before removing it, and never let rm cross into another file system.
clean_scratch() {
  local d m
  for d in "$CACHE"/.build-*; do
    [ -d "$d" ] || continue
    for m in $(awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
      umount "$m" 2>/dev/null || umount -l "$m"
    done
    rm -rf --one-file-system "$d"
  done
}

# Resolve the versions with apt's own client on private lists (the host's lists lack contrib),
# kept in the cache so a warm run's `apt-get update` fetches only what changed.
resolve_versions() {
  local t=$1
  mkdir -p "$t/lists/partial" "$t/cache/archives/partial"
  printf '%s\n' "deb $MIRROR bookworm main contrib" "deb $MIRROR bookworm-updates main contrib" \
    "deb $SEC bookworm-security main contrib" >"$t/sources.list"
  local o=(-o "Dir::State::Lists=$t/lists" -o "Dir::Etc::SourceList=$t/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::Cache=$t/cache" -o "Dir::State::status=/dev/null"
    -o "APT::Get::List-Cleanup=false")
  apt-get "${o[@]}" -qq update >&2
  KPKG=$(apt-cache "${o[@]}" depends "linux-image-$FLAVOUR" | sed -n 's/^ *Depends: \(linux-image-6[^ ]*\)$/\1/p' | head -1)
  KABI=${KPKG#linux-image-}
  KVERSION=$(apt-cache "${o[@]}" policy "$KPKG" | sed -n 's/^ *Candidate: //p')
  ZVERSION=$(apt-cache "${o[@]}" policy zfs-dkms | sed -n 's/^ *Candidate: //p')
  [ -n "$KABI" ] && [ -n "$KVERSION" ] && [ -n "$ZVERSION" ] && [ "$KVERSION" != "(none)" ] && [ "$ZVERSION" != "(none)" ]
}

exec 9>"$CACHE/.lock"
flock 9   # one run at a time; a second waiter finds the first one's image
clean_scratch   # under the lock no other build is running: any scratch is a killed run's
T=$CACHE/.apt
if resolve_versions "$T"; then
  KEY=$( (cat "$SELF"; echo "$KABI $KVERSION $ZVERSION") | sha256sum | cut -c1-16)
else
  # Offline: the newest image built by this very script.
  SCRIPT_HASH=$(sha256sum "$SELF" | cut -c1-64)
  KEY=$(grep -l "^script_sha256=$SCRIPT_HASH\$" "$CACHE"/*/manifest 2>/dev/null | xargs -r ls -t | head -1 | xargs -r dirname | xargs -r basename)
  [ -n "$KEY" ] || { log "cannot resolve package versions and no cached image for this script"; exit 1; }
  log "archive unreachable: using cached image $KEY"
fi
OUT=$CACHE/$KEY
if [ -f "$OUT/manifest" ]; then
  log "cached: $OUT ($(grep -E '^(kernel|zfs)=' "$OUT/manifest" | tr '\n' ' '))"
  echo "$OUT"
  exit 0
fi

log "building $KEY: kernel $KABI ($KVERSION), zfs-dkms $ZVERSION"
W=$CACHE/.build-$KEY
mkdir -p "$W"
R=$W/rootfs
t0=$(date +%s)
# Stage 1 inside the image: mount the host's root read-only (9p) and run the harness's init
# from the repository, so the guest's init can change without a new image.
STAGE1='#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
for m in netfs 9pnet 9pnet_virtio 9p; do modprobe $m; done
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=none,msize=262144 hostroot /host || { echo "stage1: no host share"; poweroff -f; }
for a in $(cat /proc/cmdline); do case $a in labinit=*) INIT=${a#labinit=} ;; esac; done
[ -r "/host$INIT" ] || { echo "stage1: no labinit= $INIT"; poweroff -f; }
exec /bin/sh "/host$INIT"
'
mmdebstrap --variant=apt --components=main,contrib \
  --aptopt='APT::Install-Recommends "false"' \
  --include="mount,util-linux,e2fsprogs,xfsprogs,udev,kmod,iproute2,procps,libstdc++6,ca-certificates,openssh-server,python3-rtslib-fb,netcat-openbsd,$KPKG=$KVERSION,linux-headers-$KABI=$KVERSION" \
  --customize-hook="grep -q '^CONFIG_9P_FS=[my]' \"\$1/boot/config-$KABI\"" \
  --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zfs-dkms=$ZVERSION zfsutils-linux=$ZVERSION" \
  --customize-hook="chroot \"\$1\" depmod -a $KABI" \
  --customize-hook="chroot \"\$1\" modinfo -k $KABI zfs >/dev/null" \
  --customize-hook="printf '%s' '$STAGE1' > \"\$1/sbin/poolcsi-stage1\"; chmod 755 \"\$1/sbin/poolcsi-stage1\"" \
  --customize-hook='echo zfsguest > "$1/etc/hostname"; rm -f "$1"/var/cache/apt/archives/*.deb' \
  bookworm "$R" \
  "deb $MIRROR bookworm main contrib" "deb $MIRROR bookworm-updates main contrib" "deb $SEC bookworm-security main contrib" >&2
t1=$(date +%s)
log "root file system built in $((t1 - t0)) s"

cp "$R/boot/vmlinuz-$KABI" "$W/vmlinuz"
VERSIONS=$(chroot "$R" dpkg-query -W -f='${Package}=${Version}\n' "$KPKG" zfs-dkms zfsutils-linux)
SZ=$(($(du -sm "$R" | cut -f1) * 12 / 10 + 300))
mkfs.ext4 -q -F -L poolcsi-zfs -d "$R" "$W/rootfs.ext4" "${SZ}M"
rm -rf "$R"
t2=$(date +%s)
{
  echo "kernel=$KABI"; echo "kernel_version=$KVERSION"; echo "zfs=$ZVERSION"
  echo "$VERSIONS" | sed 's/^/installed: /'
  echo "script_sha256=$(sha256sum "$SELF" | cut -c1-64)"
  echo "build_seconds=$((t2 - t0))"; echo "built=$(date -u +%FT%TZ)"
} >"$W/manifest.tmp"
mv "$W/manifest.tmp" "$W/manifest"
rm -rf "$OUT"; mv "$W" "$OUT"
log "built $OUT in $((t2 - t0)) s"
echo "$OUT"
