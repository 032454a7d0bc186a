#!/bin/sh
# Service iscsi-target: the kernel's LIO target, managed with targetcli (which needs D-Bus).
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/dbus.log"
load_modules configfs target_core_mod target_core_file target_core_iblock iscsi_target_mod
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
mkdir -p /run/dbus /etc/rtslib-fb-target/backup
dbus-daemon --system --fork >>"$LAB_LOG_DIR/dbus.log" 2>&1
wait_for 20 "targetcli to answer" targetcli ls /iscsi
