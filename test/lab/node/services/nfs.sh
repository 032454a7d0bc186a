#!/bin/sh
# Service nfs: kernel nfsd + rpcbind + rpc.mountd exporting /srv/nfs (read-write, to every
# lab node) for NFSv3 and NFSv4.x at the same path.
#
# NFSv4 clients start from the server's pseudo-root, which mountd builds from "/" down to each
# export. On a lab node "/" is hostfs, which nfsd cannot export ("Cannot export /, possibly
# unsupported filesystem"), so v4 mounts failed with ENOENT. So mountd gets a root of its own
# (nfs.conf [exports] rootdir) on a tmpfs, which nfsd can export, and the export's tmpfs is
# also mounted at /srv/nfs, so the server's path and the clients' path are the same.
#
# LAB_NFS_EXPORT_FS=xfs makes the export an XFS filesystem with project quota enforced
# (prjquota; reflink is on by default in mkfs.xfs) on a sparse file of LAB_NFS_EXPORT_SIZE
# (default 2G): what an nfs pool's server agent needs for sizes and reflink snapshots.
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/rpcbind.log" "$LAB_LOG_DIR/mountd.log"
load_modules nfsd nfs nfsv3 nfsv4 loop

cd /var/lib/nfs
mkdir -p rpc_pipefs v4recovery sm sm.bak
touch etab rmtab xtab
cd /

root=/run/lab/nfsroot
mkdir -p $root
mount -t tmpfs -o mode=755 lab-nfsroot $root
mkdir -p $root/srv/nfs /srv/nfs
if [ "${LAB_NFS_EXPORT_FS:-tmpfs}" = xfs ]; then
  img=$LAB_NODE_DIR/nfs-export.img
  truncate -s "${LAB_NFS_EXPORT_SIZE:-2G}" "$img"
  loop=$(losetup -f --show "$img")
  mkfs.xfs -q -f "$loop"
  mount -t xfs -o prjquota "$loop" $root/srv/nfs
  chmod 777 $root/srv/nfs
else
  mount -t tmpfs -o mode=777 lab-nfs-export $root/srv/nfs
fi
mount --make-shared $root/srv/nfs # later mounts under /srv/nfs show through the export too
mount --bind $root/srv/nfs /srv/nfs
printf '[exports]\nrootdir=%s\n' $root >/run/lab/nfs.conf
mount --bind /run/lab/nfs.conf /etc/nfs.conf

mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
# A fresh server: no clients to wait for, so keep the v4 grace period short.
echo 10 >/proc/fs/nfsd/nfsv4gracetime
echo 10 >/proc/fs/nfsd/nfsv4leasetime

daemon rpcbind rpcbind -f -w
wait_for 20 "rpcbind" rpcinfo -p 127.0.0.1
exportfs -o rw,no_root_squash,no_subtree_check,insecure,fsid=1 '*:/srv/nfs'
rpc.nfsd 8
daemon mountd rpc.mountd -F
wait_for 20 "mountd to list /srv/nfs" sh -c 'showmount -e 127.0.0.1 | grep -q "^/srv/nfs "'
