// The services a lab node can run. Each is a shell script in test/lab/node/services/ that
// the node's agent runs; it exits 0 once the service is ready. What a service needs on the
// host is listed here, for the preflight.
import { KUBE_APISERVER_FIX, kubeApiserverPath } from './kube.js';
import { req, type Requirement } from './requirements.js';

export type ServiceName =
  | 'lvm' | 'iscsi-target' | 'iscsi-initiator' | 'multipath' | 'nfs' | 'ceph' | 'ceph-client' | 'sshd' | 'kube-apiserver';

export interface ServiceDef {
  name: ServiceName;
  /** Deadline for the script, i.e. for the service to be ready. */
  timeoutMs: number;
  /** Its daemons' logs (in the node's log dir), shown when it fails. */
  logs: string[];
  requirements: Requirement[];
  /** Files it needs that no Debian package has (checked by the preflight too), with the fix. */
  files?: () => { path: string; fix: string }[];
  /** What it gives a test, for the docs and the failure messages. */
  provides: string;
}

export const SERVICES: Record<ServiceName, ServiceDef> = {
  lvm: {
    name: 'lvm',
    timeoutMs: 60_000,
    logs: [],
    requirements: [...req('lvm2', 'lvm', 'lvcreate'), ...req('thin-provisioning-tools', 'thin_check'), ...req('e2fsprogs', 'mkfs.ext4')],
    provides: 'VG labvg on a loop device (sparse file on the host), thin pool labvg/thin; lvm.conf without udev in $LVM_SYSTEM_DIR',
  },
  'iscsi-target': {
    name: 'iscsi-target',
    timeoutMs: 60_000,
    logs: ['dbus.log'],
    requirements: [...req('targetcli-fb', 'targetcli'), ...req('dbus', 'dbus-daemon')],
    provides: 'LIO target (configfs) managed with targetcli, on port 3260',
  },
  'iscsi-initiator': {
    name: 'iscsi-initiator',
    timeoutMs: 30_000,
    logs: ['iscsid.log'],
    requirements: req('open-iscsi', 'iscsid', 'iscsiadm'),
    provides: 'iscsid with InitiatorName iqn.2026-11.org.example:<node>',
  },
  multipath: {
    name: 'multipath',
    timeoutMs: 30_000,
    logs: ['udevd.log', 'multipathd.log'],
    requirements: [...req('udev', 'udevadm'), ...req('multipath-tools', 'multipath', 'multipathd')],
    provides: "udevd and multipathd with Debian's defaults (find_multipaths strict), /etc/multipath node-private",
  },
  nfs: {
    name: 'nfs',
    timeoutMs: 60_000,
    logs: ['rpcbind.log', 'mountd.log'],
    requirements: [
      ...req('nfs-kernel-server', 'rpc.nfsd', 'rpc.mountd', 'exportfs'),
      ...req('rpcbind', 'rpcbind', 'rpcinfo'),
      ...req('nfs-common', 'mount.nfs', 'showmount'),
      ...req('xfsprogs', 'mkfs.xfs', 'xfs_quota'),
    ],
    provides: 'kernel nfsd exporting /srv/nfs (rw, no_root_squash) for NFSv3 and v4.x at the same path; a tmpfs, or XFS with prjquota when LAB_NFS_EXPORT_FS=xfs',
  },
  ceph: {
    name: 'ceph',
    timeoutMs: 150_000,
    logs: ['ceph-mon.a.log', 'ceph-osd.0.log'],
    requirements: [
      ...req('ceph-mon', 'ceph-mon'),
      ...req('ceph-osd', 'ceph-osd'),
      ...req('ceph-base', 'monmaptool'),
      ...req('ceph-common', 'ceph', 'rbd', 'ceph-authtool'),
    ],
    provides: '1 mon + 1 memstore OSD, pool rbd, /etc/ceph/ceph.conf + admin keyring, krbd module',
  },
  'ceph-client': {
    name: 'ceph-client',
    timeoutMs: 180_000,
    logs: [],
    requirements: req('ceph-common', 'ceph', 'rbd'),
    provides: "/etc/ceph from the lab's ceph node, krbd module",
  },
  sshd: {
    name: 'sshd',
    timeoutMs: 30_000,
    logs: ['sshd.log'],
    requirements: [...req('openssh-server', 'sshd'), ...req('openssh-client', 'ssh', 'ssh-keygen')],
    provides: "sshd on port 22; root logs in with the lab's key (Lab.sshKey)",
  },
  'kube-apiserver': {
    name: 'kube-apiserver',
    timeoutMs: 180_000,
    logs: ['etcd.log', 'kube-apiserver.log'],
    requirements: [...req('etcd-server', 'etcd'), ...req('openssl', 'openssl'), ...req('curl', 'curl')],
    files: () => [{ path: kubeApiserverPath(), fix: KUBE_APISERVER_FIX }],
    provides: 'etcd (127.0.0.1) + kube-apiserver on port 6443 (token in group system:masters, RBAC), namespace poolcsi; kubeconfig /run/lab/kube/kubeconfig, for other nodes $LAB_SHARED_DIR/kube/<node>/kubeconfig (kubeEnv())',
  },
};

export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];
