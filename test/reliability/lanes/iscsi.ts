// The iscsi lane, run inside a lab node that is its own storage host (services lvm, iscsi-target,
// iscsi-initiator): an iscsi pool with `local: true` (or over SSH to 127.0.0.1, for the storage
// host's outage, with service sshd) on thin LVs of the lab's VG (or image files in a directory,
// `files`), exported by LIO
// through configfs, the driver with --mode all logging in through its own iscsiadm interface.
// ControllerPublish (the LUN's ACL) is part of the crash run; a stage round publishes first.
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup, scratch } from '../core/setup.js';
import { IscsiTruth } from '../truth/iscsi.js';
import { FileTruth } from '../truth/files.js';
import { LvmTruth } from '../truth/lvm.js';

export interface IscsiSetup { lane: Lane; driver: DriverProcess; root: string; vg: string; files?: string | undefined }

const POOL = { id: 'isc', iqnPrefix: 'iqn.2003-01.org.example.rel' };

/** `ssh`: reach the storage host (this node) over SSH to 127.0.0.1 instead of `local: true`. */
export interface LaneSsh { keyFile: string; hostKey: string; timeoutSeconds: number }

/** `files`: a file backing in that directory (it must exist: XFS for reflinked snapshots). */
export async function iscsiLane(o: { vg: string; thinpool: string; nodeId: string; root?: string | undefined; ssh?: LaneSsh; files?: string | undefined }): Promise<IscsiSetup> {
  const host = o.ssh
    ? { ssh: { host: '127.0.0.1', privateKey: { file: o.ssh.keyFile }, hostKey: o.ssh.hostKey, timeoutSeconds: o.ssh.timeoutSeconds } }
    : { local: true };
  const { root, stage, poolsFile } = await scratch('iscsi', o.root,
    { ...POOL, type: 'iscsi', portals: ['127.0.0.1:3260'], ...host,
      backing: o.files ? { type: 'file', path: o.files } : { type: 'lvmthin', vgname: o.vg, thinpool: o.thinpool, overprovision: 20 } });
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: o.files ? 'iscsi-file' : 'iscsi', pool: POOL.id, nodeId: o.nodeId,
    capability: { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: true, publish: true, stagePublish: true },
    killWindowMs: 3000,
    callTimeoutMs: 120_000,
    truth: await new IscsiTruth(o.files ? new FileTruth(o.files, POOL.id) : new LvmTruth(o.vg, POOL.id), POOL, o.nodeId).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, vg: o.vg, files: o.files };
}

export function iscsiFuzzSetup(s: IscsiSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: [POOL.id, 'local'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc', '/etc/iscsi', `/dev/${s.vg}`, ...(s.files ? [s.files] : [])], skip: [join(s.root, 'dirpool')],
    programs: ['lvm', 'lvs', 'vgs', 'lvcreate', 'lvremove', 'lvchange', 'lvextend', 'lvresize', 'lvconvert', 'lvrename',
      // LIO through configfs, saved by rtslib under a lock; the initiator.
      'find', 'mkdir', 'rmdir', 'ln', 'dd', 'grep', 'flock', 'iscsiadm', 'udevadm', 'test',
      'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'fsck', 'blockdev', 'wipefs', 'cp',
      // iscsiadm's lock a killed iscsiadm left (node/transports/iscsi.ts)
      'stat', 'rm',
      // the file store
      ...(s.files ? ['cat', 'mv', 'truncate', 'df'] : [])],
    // LIO's lock, rtslib's saved configuration (read before a save is skipped) and
    // iscsiadm's records live under /run, /etc/rtslib-fb-target and /etc/iscsi.
    roots: ['/dev', '/proc', '/sys', '/run', '/etc/rtslib-fb-target', '/etc/iscsi', ...(s.files ? [s.files] : [])],
  });
}
