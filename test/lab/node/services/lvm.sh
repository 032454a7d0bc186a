#!/bin/sh
# Service lvm: volume group labvg on a loop device, with a thin pool labvg/thin.
. "$(dirname "$0")/lib.sh"
load_modules dm_mod dm_thin_pool dm_snapshot dm_mirror loop

# A sparse file on the host disk (the node's run dir), so volume data costs no node memory.
img=$LAB_NODE_DIR/labvg.img
truncate -s "${LAB_LVM_VG_SIZE:-16G}" "$img"
loop=$(losetup -f --show "$img")
pvcreate -q "$loop"
vgcreate -q labvg "$loop"
lvcreate -q -L "${LAB_LVM_THIN_SIZE:-4G}" -T labvg/thin
vgs --noheadings -o vg_name,vg_size,vg_free labvg
