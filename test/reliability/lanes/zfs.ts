// The zfspool and zfs-iscsi lanes, run inside the lab's ZFS guest (OpenZFS on a Debian kernel
// under QEMU): the driver with --mode all on a local socket. zfspool: a pool on the guest's parent
// dataset, mount volumes as ZFS filesystems (bind-mounted from their mountpoints at stage).
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup, scratch } from '../core/setup.js';
import { IscsiTruth } from '../truth/iscsi.js';
import { ZfsTruth } from '../truth/zfs.js';

export interface ZfsSetup { lane: Lane; driver: DriverProcess; root: string; parent: string }

const POOL = 'zfs';

export async function zfsLane(o: { parent: string; nodeId: string; root?: string | undefined }): Promise<ZfsSetup> {
  const { root, stage, poolsFile } = await scratch('zfs', o.root, { id: POOL, type: 'zfspool', pool: o.parent });
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: 'zfspool', pool: POOL, nodeId: o.nodeId,
    capability: { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    createExtras: { accessibility_requirements: { requisite: [{ segments: { 'topology.poolcsi.io/node': o.nodeId } }] } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: true },
    // Every zfs command costs about half a second under emulation.
    killWindowMs: 4000,
    callTimeoutMs: 180_000,
    truth: await new ZfsTruth(o.parent, POOL).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, parent: o.parent };
}

export function zfsFuzzSetup(s: ZfsSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: [POOL, 'local'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc', `/dev/zvol/${s.parent}`], skip: [join(s.root, 'dirpool')],
    programs: ['zfs', 'zpool', 'udevadm', 'test', 'losetup', 'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'mkfs',
      'resize2fs', 'xfs_growfs', 'btrfs', 'e2fsck', 'fsck', 'blockdev', 'wipefs', 'dd'],
    // Filesystem datasets are mounted under the pool's mountpoint (/<parent>), zvols are /dev/zvol links.
    roots: ['/dev', '/proc', '/sys', `/${s.parent}`],
    // Each zfs command takes about 0.5 s in the guest; a call runs several.
    boundMs: 120_000,
  });
}

const ISCSI_POOL = { id: 'zisc', iqnPrefix: 'iqn.2003-01.org.example.relzfs' };

/** zfs-iscsi in the same guest, its own storage host (`local: true`, LIO through configfs): the
 * controller's side only (creates, snapshots, clones, expands, deletes, publishes as ACLs);
 * the guest has no initiator, so no stage rounds. */
export async function zfsIscsiLane(o: { parent: string; nodeId: string; root?: string | undefined }): Promise<ZfsSetup> {
  const { root, stage, poolsFile } = await scratch('zfs-iscsi', o.root,
    { ...ISCSI_POOL, type: 'zfs-iscsi', pool: o.parent, portals: ['127.0.0.1:3260'], local: true });
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: 'zfs-iscsi', pool: ISCSI_POOL.id, nodeId: o.nodeId,
    capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: false, publish: true },
    killWindowMs: 4000,
    callTimeoutMs: 180_000,
    truth: await new IscsiTruth(new ZfsTruth(o.parent, ISCSI_POOL.id), ISCSI_POOL, o.nodeId).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, parent: o.parent };
}

export function zfsIscsiFuzzSetup(s: ZfsSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: [ISCSI_POOL.id, 'local'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc', `/dev/zvol/${s.parent}`], skip: [join(s.root, 'dirpool')],
    programs: ['zfs', 'zpool', 'udevadm', 'test', 'find', 'mkdir', 'rmdir', 'ln', 'dd', 'grep', 'flock', 'stat', 'cat', 'iscsiadm',
      'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'fsck', 'blockdev', 'wipefs'],
    // LIO's configfs tree is under /sys; its lock under /run; rtslib's saved configuration.
    roots: ['/dev', '/proc', '/sys', '/run', '/etc/rtslib-fb-target', '/etc/iscsi', `/${s.parent}`],
    boundMs: 120_000,
  });
}
