#!/bin/sh
# PID 1 of a ZFS guest (test/lab/harness/zfsguest.ts). The image's stage 1 has mounted proc,
# sys and dev, and the host's root file system read-only at /host (9p), and runs this script
# from there. The guest's own root is the image in QEMU snapshot mode: writable, and thrown
# away at power-off. Here: the lab's settings, the host paths the agent and the driver need
# (at the same paths as on the host), the lab's directories read-write, udev (for the
# /dev/zvol links), the lab Ethernet, the ZFS module; then the lab agent, as in a UML node.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() { echo "zfs-guest-init: $*"; echo o >/proc/sysrq-trigger; sleep 60; }
up() { cut -d' ' -f1 /proc/uptime; }

for arg in $(cat /proc/cmdline); do
  case $arg in labenv=*) LABENV=${arg#labenv=} ;; esac
done
[ -r "/host${LABENV:-/nonexistent}" ] || fail "no readable labenv= on the kernel command line"
set -a
. "/host$LABENV"
set +a

mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=755 lab-state /run
mount -t tmpfs -o mode=1777 lab-tmp /tmp
mount -t configfs configfs /sys/kernel/config 2>/dev/null

# The lab's host directories (spool, logs, run scratch): read-write, in LAB_RW_DIRS order.
i=0
for d in $LAB_RW_DIRS; do
  mkdir -p "$d"
  mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=262144 "labrw$i" "$d" || fail "cannot mount $d read-write"
  i=$((i + 1))
done
# The repository, read-only at its host path, from its own share with the guest's page cache in
# front (the host's root share is uncached: a driver start would read every module over 9p again).
mkdir -p "$LAB_REPO"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 labrepo "$LAB_REPO" || fail "cannot mount the repository $LAB_REPO"
# Host programs, read-only at their host paths.
for p in $LAB_HOST_PATHS; do
  if [ -d "/host$p" ]; then
    mkdir -p "$p"
  else
    mkdir -p "$(dirname "$p")"
    [ -e "$p" ] || : >"$p"
  fi
  mount --bind "/host$p" "$p" && mount -o remount,bind,ro "$p" || fail "cannot show the host's $p"
done

hostname "$LAB_HOSTNAME"
ip link set lo up
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 || fail "udevd did not start"
udevadm trigger --action=add >/dev/null 2>&1
udevadm settle -t 60
# On the lab Ethernet (a virtio NIC on the lab's multicast group) when the lab has one.
if [ -n "${LAB_IP:-}" ]; then
  modprobe virtio_net
  udevadm settle -t 30
  dev=$(ls /sys/class/net | grep -vx lo | head -n 1)
  [ -n "$dev" ] || fail "no network device for $LAB_IP"
  ip link set "$dev" up && ip addr add "$LAB_IP/24" dev "$dev" || fail "cannot configure $dev with $LAB_IP"
fi
modprobe zfs "zfs_arc_max=${LAB_ZFS_ARC_MAX:-268435456}" || fail "cannot load the zfs module"
echo "zfs-guest-init: zfs $(cat /sys/module/zfs/version) ready at uptime $(up) s"

mkdir -p /run/lab/home /run/lock
cd /run/lab/home
"$LAB_NODE_BIN" "$LAB_AGENT" "$LAB_SPOOL" </dev/null
fail "agent exited with status $?"
