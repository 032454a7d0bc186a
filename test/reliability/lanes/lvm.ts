// The lvm / lvmthin lane, run inside a lab node (VG labvg, thin pool labvg/thin): the driver with
// --mode all on a local socket, ext4 mount volumes, staging under a --path-prefix.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup } from '../core/setup.js';
import { LvmTruth } from '../truth/lvm.js';

export interface LvmSetup { lane: Lane; driver: DriverProcess; root: string; vg: string }

export async function lvmLane(o: { type: 'lvm' | 'lvmthin'; vg: string; thinpool: string; nodeId: string; root?: string | undefined }): Promise<LvmSetup> {
  const root = o.root ?? await mkdtemp('/tmp/poolcsi-rel-lvm-');
  const stage = join(root, 'stage');
  await mkdir(stage, { recursive: true });
  const poolsFile = join(root, 'pools.yaml');
  const pool = o.type === 'lvm' ? 'thick' : 'thin';
  await writeFile(poolsFile, `pools:\n  - {id: thick, type: lvm, vgname: ${o.vg}}\n  - {id: thin, type: lvmthin, vgname: ${o.vg}, thinpool: ${o.thinpool}, overprovision: 20}\n`);
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: o.type, pool, nodeId: o.nodeId,
    capability: { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    createExtras: { accessibility_requirements: { requisite: [{ segments: { 'topology.poolcsi.io/node': o.nodeId } }] } },
    sizesMiB: [8, 16, 32],
    features: { snapshots: true, clones: true, expand: true, stage: true },
    killWindowMs: 2500,
    callTimeoutMs: 120_000,
    truth: await new LvmTruth(o.vg, pool).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, vg: o.vg };
}

export function lvmFuzzSetup(s: LvmSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: ['thick', 'thin'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc', `/dev/${s.vg}`], skip: [],
    programs: ['lvm', 'lvs', 'vgs', 'pvs', 'lvcreate', 'lvremove', 'lvchange', 'lvextend', 'lvresize', 'lvconvert', 'lvrename', 'vgchange',
      'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'mkfs', 'resize2fs', 'xfs_growfs', 'btrfs', 'e2fsck', 'fsck', 'dd', 'blockdev', 'dmsetup', 'wipefs'],
    roots: ['/dev', '/proc', '/sys'],
  });
}
