#!/bin/bash
# The initramfs of the ZFS lab guest: busybox, the virtio block, crc32c and ext4 modules of the
# image's kernel (read out of rootfs.ext4 with debugfs, read-only), an init that mounts
# /dev/vda and hands over to the image's /sbin/poolcsi-stage1. Kept beside the image as
# initrd-<hash of this script>.cpio.gz, so changing this script never rebuilds the image.
#   usage: build-initrd.sh IMAGE_DIR     prints the initramfs path
set -euo pipefail
DIR=$1
KABI=$(sed -n 's/^kernel=//p' "$DIR/manifest")
[ -n "$KABI" ] || { echo "build-initrd: no kernel in $DIR/manifest" >&2; exit 1; }
OUT=$DIR/initrd-$(sha256sum "$(readlink -f "$0")" | cut -c1-12).cpio.gz
[ -s "$OUT" ] && { echo "$OUT"; exit 0; }

I=$(mktemp -d /var/tmp/poolcsi-zfs-initrd.XXXXXX)
trap 'rm -rf "$I"' EXIT
mkdir -p "$I"/{bin,proc,sys,dev,newroot,mods}
cp "$(command -v busybox)" "$I/bin/busybox"
for a in sh mount umount insmod switch_root sleep cat poweroff; do ln -s busybox "$I/bin/$a"; done
MD=/lib/modules/$KABI
# In load order (each after what it depends on, as modules.dep of this kernel says).
MODS="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci.ko kernel/drivers/block/virtio_blk.ko kernel/crypto/crc32c_generic.ko
kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/fs/ext4/ext4.ko"
ORDER=
for m in $MODS; do
  f=$I/mods/$(basename "$m")
  debugfs -R "dump $MD/$m $f" "$DIR/rootfs.ext4" >/dev/null 2>&1 || true
  [ -s "$f" ] || { rm -f "$f"; continue; } # built into this kernel
  ORDER="$ORDER $(basename "$m")"
done
case "$ORDER" in *virtio_blk.ko*ext4.ko*) ;; *) echo "build-initrd: modules missing from the image (got:$ORDER)" >&2; exit 1 ;; esac
cat >"$I/init" <<EOI
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $ORDER; do insmod /mods/\$m || echo "initrd: insmod \$m failed"; done
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; poweroff -f; }
umount /proc /sys; mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/poolcsi-stage1
EOI
chmod 755 "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
