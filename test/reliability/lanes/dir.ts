// The dir lane on this machine: two dir pools under one scratch directory, the driver with
// --mode all, staging under a --path-prefix.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import { DirTruth } from '../truth/dir.js';
import { baitedFuzzSetup } from '../core/setup.js';
import type { FuzzSetup } from '../core/suite.js';

export interface DirSetup { lane: Lane; driver: DriverProcess; root: string; otherPool: string }

export async function dirLane(root?: string): Promise<DirSetup> {
  const dir = root ?? await mkdtemp(join(tmpdir(), 'poolcsi-rel-dir-'));
  const pool = join(dir, 'pool');
  const other = join(dir, 'other');
  const stage = join(dir, 'stage');
  for (const d of [pool, other, stage]) await mkdir(d, { recursive: true });
  const poolsFile = join(dir, 'pools.yaml');
  await writeFile(poolsFile, `pools:\n  - id: local\n    type: dir\n    path: ${pool}\n  - id: other\n    type: dir\n    path: ${other}\n`);
  const driver = new DriverProcess({
    socket: join(dir, 'csi.sock'), poolsFile, nodeId: 'rel-node', logFile: join(dir, 'driver.log'), args: ['--path-prefix', stage],
  });
  const lane: Lane = {
    type: 'dir', pool: 'local', nodeId: 'rel-node',
    capability: { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    sizesMiB: [1, 2, 4, 8],
    features: { snapshots: true, clones: true, expand: true, stage: true },
    killWindowMs: 40,
    callTimeoutMs: 30_000,
    truth: new DirTruth(pool),
    stagingRoot: stage,
  };
  return { lane, driver, root: dir, otherPool: other };
}

/** Fuzz settings for the dir lane: bait trees beside the pools, argv only under the scratch root. */
export function dirFuzzSetup(s: DirSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: ['local', 'other'], nodeIds: ['rel-node', 'other-node', ''],
    bait: ['/etc', '/tmp', join(s.root, 'pool', 'volumes')], skip: [join(s.root, 'pool'), join(s.root, 'other')],
    stable: ['/', '/etc', '/var'], busy: ['/tmp', '/var/tmp', '/run'],
    programs: ['cp', 'mount', 'umount', 'blkid', 'btrfs', 'resize2fs', 'xfs_growfs', 'xfs_quota', 'xfs_info', 'findmnt', 'stat', 'df', 'du', 'rm', 'mkdir', 'chmod'],
    roots: ['/dev', '/proc', '/sys'],
    boundMs: 10_000,
  });
}
