// The zfspool lane, run inside the lab's ZFS guest (OpenZFS on a Debian kernel under QEMU): the
// driver with --mode all on a local socket, a zfspool pool on the guest's parent dataset, mount
// volumes as ZFS filesystems (bind-mounted from their mountpoints at stage).
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup, scratch } from '../core/setup.js';
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
