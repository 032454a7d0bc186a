#!/bin/sh
# Service multipath: what a node with multipath-tools runs: udev (multipathd learns a path's
# WWID from udev's ID_SERIAL) and multipathd, with Debian's defaults (no multipath.conf:
# find_multipaths "strict", maps named by WWID) and a node-private /etc/multipath.
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/udevd.log" "$LAB_LOG_DIR/multipathd.log"
load_modules dm_mod dm_multipath
daemon udevd /lib/systemd/systemd-udevd
wait_for 20 "udevd's control socket" test -S /run/udev/control
udevadm trigger --action=add
udevadm settle --timeout=20
# -d: in the foreground (the daemon helper backgrounds it), -s: no timestamps.
daemon multipathd multipathd -d -s
wait_for 20 "multipathd to answer" multipathd show daemon
