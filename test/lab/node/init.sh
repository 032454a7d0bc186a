#!/bin/sh
# PID 1 of a lab node: a User-Mode Linux kernel whose root is the host's file system (hostfs),
# mounted read-only so that the node cannot change the host. Everything the node writes lands
# on a node-private tmpfs, or in the lab's own host directories ($LAB_RW_DIRS, mounted
# read-write again). Then it runs the lab agent until the harness kills the node.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() { echo "lab-init: $*"; poweroff -f; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev # UML mounts it itself; never hide it
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm

# Settings from the harness: a file named by labenv= on the kernel command line. set -a so
# that every program started from here (the agent, and through it every command) sees them.
for arg in $(cat /proc/cmdline); do
  case $arg in labenv=*) LABENV=${arg#labenv=} ;; esac
done
[ -r "${LABENV:-}" ] || fail "no readable labenv= on the kernel command line"
set -a
. "$LABENV"
set +a

# Node-private state. The mount points exist on the host (the harness creates them).
for d in /run /tmp /var/log /var/lib/iscsi /var/lib/nfs /var/lib/ceph \
  /etc/target /etc/rtslib-fb-target /etc/ceph /etc/lvm /etc/multipath /srv /mnt; do
  mount -t tmpfs -o mode=755 lab-state "$d" || fail "cannot mount tmpfs on $d"
done
chmod 1777 /tmp
# The repository (driver, node scripts, agent) may lie under a directory just hidden, e.g. a
# CI clone in /tmp: show the host's copy there again, read-only.
if [ ! -e "$LAB_ROOT/test/lab/node/init.sh" ]; then
  mkdir -p "$LAB_ROOT" && mount -t hostfs -r -o "$LAB_ROOT" lab-repo "$LAB_ROOT" || fail "cannot show the repository $LAB_ROOT"
fi
# The lab's directories on the host (spools, logs, node disks): the only host paths writable.
for d in $LAB_RW_DIRS; do
  mkdir -p "$d" 2>/dev/null
  mount -t hostfs -o "$d" lab-rw "$d" || fail "cannot mount $d read-write"
done
mkdir -p /run/lock /run/lab/home "$LVM_SYSTEM_DIR"
# sshd's StrictModes refuses keys under a world-writable directory: mode 700.
mount -t tmpfs -o mode=700 lab-ssh /root/.ssh || fail "cannot mount tmpfs on /root/.ssh"
# open-iscsi reads its config from /etc/iscsi: keep the host's iscsid.conf, nothing else.
cp /etc/iscsi/iscsid.conf /run/lab/iscsid.conf 2>/dev/null
mount -t tmpfs -o mode=755 lab-state /etc/iscsi || fail "cannot mount tmpfs on /etc/iscsi"
cp /run/lab/iscsid.conf /etc/iscsi/ 2>/dev/null
# LVM without udev; the same config in $LVM_SYSTEM_DIR and in a private /etc/lvm, so a tool
# that is not handed LVM_SYSTEM_DIR still neither waits for udev nor writes the host's backups.
cp "$LAB_ROOT/test/lab/node/lvm.conf" "$LVM_SYSTEM_DIR/lvm.conf"
cp "$LAB_ROOT/test/lab/node/lvm.conf" /etc/lvm/lvm.conf

# modprobe looks in /lib/modules/<release>; the UML modules live elsewhere on the host.
mount -t tmpfs lab-modules /lib/modules || fail "cannot mount tmpfs on /lib/modules"
mkdir -p "/lib/modules/$LAB_KVER"
mount --bind "$LAB_UML_MODULES" "/lib/modules/$LAB_KVER" || fail "cannot bind $LAB_UML_MODULES"

hostname "$LAB_HOSTNAME"
ip link set lo up
if [ -n "${LAB_IP:-}" ]; then
  ip link set eth0 up && ip addr add "$LAB_IP/24" dev eth0 || fail "cannot configure eth0 with $LAB_IP"
fi

cd /run/lab/home
"$LAB_NODE_BIN" "$LAB_AGENT" "$LAB_SPOOL" </dev/null
fail "agent exited with status $?"
