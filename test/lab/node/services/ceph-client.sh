#!/bin/sh
# Service ceph-client: this node uses the cluster of the node running service ceph
# (its mon must listen on the lab network, i.e. that node has an IP).
. "$(dirname "$0")/lib.sh"
load_modules libceph rbd
wait_for 150 "a ceph cluster in the lab ($LAB_SHARED_DIR/ceph)" \
  test -f "$LAB_SHARED_DIR/ceph/ceph.client.admin.keyring"
cp "$LAB_SHARED_DIR/ceph/ceph.conf" "$LAB_SHARED_DIR/ceph/ceph.client.admin.keyring" /etc/ceph/
timeout 30 ceph health
