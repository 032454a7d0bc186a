#!/bin/sh
# Service sshd: root logs in with the lab's key ($LAB_SHARED_DIR/ssh/id_ed25519), so a driver
# can reach this node as a storage host.
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/sshd.log"
dir=/run/lab/sshd
mkdir -p "$dir" /run/sshd
chmod 755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
cat >"$dir/sshd_config" <<CONF
ListenAddress 0.0.0.0
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
AuthorizedKeysFile /root/.ssh/authorized_keys
# Commands run over SSH get the lab's settings too (HOME off the host's /root).
SetEnv HOME=/run/lab/home LVM_SYSTEM_DIR=$LVM_SYSTEM_DIR PYTHONDONTWRITEBYTECODE=1
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
mkdir -p -m 700 /root/.ssh
install -m 600 "$LAB_SHARED_DIR/ssh/id_ed25519.pub" /root/.ssh/authorized_keys
/usr/sbin/sshd -t -f "$dir/sshd_config"
daemon sshd /usr/sbin/sshd -D -e -f "$dir/sshd_config"
wait_for 20 "sshd on port 22" nc -z 127.0.0.1 22
