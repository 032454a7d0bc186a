#!/bin/sh
# Service iscsi-initiator: open-iscsi's iscsid, with this node's initiator name.
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/iscsid.log"
load_modules scsi_mod sd_mod iscsi_tcp
echo "InitiatorName=$LAB_INITIATOR_IQN" >/etc/iscsi/initiatorname.iscsi
mkdir -p /run/lock/iscsi
daemon iscsid iscsid -f
wait_for 20 "iscsid's control socket" grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix
