#!/bin/sh
# Service iscsi-target: the kernel's LIO target, changed through configfs and saved with rtslib's
# targetctl; targetcli (which needs D-Bus) where it is installed. The ZFS guest has rtslib only
# (Python under emulation is slow): there the target is ready once its iSCSI fabric is in configfs.
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/dbus.log"
# LIO keeps persistent-reservation state in /etc/target (its db_root, read at module load).
mkdir -p /run/dbus /etc/rtslib-fb-target/backup /etc/target
load_modules configfs target_core_mod target_core_file target_core_iblock iscsi_target_mod
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
if command -v targetcli >/dev/null; then
  dbus-daemon --system --fork >>"$LAB_LOG_DIR/dbus.log" 2>&1
  wait_for 20 "targetcli to answer" targetcli ls /iscsi
else
  command -v targetctl >/dev/null || { echo "neither targetcli nor targetctl is installed" >&2; exit 1; }
  # The fabric's directory appears when it is made (rtslib and targetcli make it the same way).
  mkdir -p /sys/kernel/config/target/iscsi
  test -e /sys/kernel/config/target/iscsi/discovery_auth
fi
