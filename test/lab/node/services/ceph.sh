#!/bin/sh
# Service ceph: a one-node cluster (1 mon, 1 memstore OSD, pool rbd) and the rbd kernel client.
# Clients use the defaults: /etc/ceph/ceph.conf and /etc/ceph/ceph.client.admin.keyring (node
# tmpfs). Both are also published in $LAB_SHARED_DIR/ceph for service ceph-client on other nodes.
. "$(dirname "$0")/lib.sh"
d=/var/lib/ceph/lab
show_logs_on_failure "$LAB_LOG_DIR/ceph-mon.a.log" "$LAB_LOG_DIR/ceph-osd.0.log"
load_modules libceph rbd

mon_ip=${LAB_IP:-127.0.0.1}
fsid=$(cat /proc/sys/kernel/random/uuid)
mkdir -p $d/mon $d/osd0 $d/run
cat >/etc/ceph/ceph.conf <<CONF
[global]
fsid = $fsid
mon host = $mon_ip:6789
auth allow insecure global id reclaim = false
run dir = $d/run
log file = $LAB_LOG_DIR/ceph-\$name.log
admin socket = $d/run/\$name.asok
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 2147483648
osd crush chooseleaf type = 0
ms bind msgr2 = false
# The OSD puts itself in the CRUSH map (host=<hostname>) with a usable weight.
osd crush update on start = true
osd crush initial weight = 1
[mon]
mon data = $d/mon
[osd]
osd data = $d/osd\$id
keyring = $d/osd\$id/keyring
CONF
admin_keyring=/etc/ceph/ceph.client.admin.keyring
ceph-authtool --create-keyring $admin_keyring --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool --create-keyring $d/mon.keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring $d/osd0/keyring --gen-key -n osd.0 \
  --cap osd 'allow *' --cap mon 'allow profile osd' >/dev/null
# The mon starts knowing both keys: no `ceph auth add` round trip (each ceph call costs ~1 s).
ceph-authtool $d/mon.keyring --import-keyring $admin_keyring >/dev/null
ceph-authtool $d/mon.keyring --import-keyring $d/osd0/keyring >/dev/null
monmaptool --create --add a "$mon_ip:6789" --fsid "$fsid" $d/monmap >/dev/null
ceph-mon --mkfs -i a --monmap $d/monmap --keyring $d/mon.keyring
ceph-mon -i a

ceph osd create >/dev/null
ceph-osd -i 0 --mkfs --no-mon-config
ceph-osd -i 0
ceph osd pool create rbd 8
timeout 90 rbd pool init rbd

# Publish by rename, so ceph-client never copies half a file.
mkdir -p "$LAB_SHARED_DIR/ceph.tmp"
cp /etc/ceph/ceph.conf $admin_keyring "$LAB_SHARED_DIR/ceph.tmp/"
mv "$LAB_SHARED_DIR/ceph.tmp" "$LAB_SHARED_DIR/ceph"
