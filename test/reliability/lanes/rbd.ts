// The rbd lane, run inside a lab node with the lab's Ceph (mon + memstore OSD + mgr): the driver
// with --mode all, the pool's cephx key from --secrets-dir, krbd with noudev.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageFile } from '../../../src/sys/package.js';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup } from '../core/setup.js';
import { RbdTruth } from '../truth/rbd.js';

export interface RbdSetup { lane: Lane; driver: DriverProcess; root: string }

/** `secretsDir` must hold poolcsi/ceph-client/{userID,userKey} (written by the lab test). */
export async function rbdLane(o: { pool: string; monhost: string; nodeId: string; root?: string | undefined; secretsDir?: string; timeoutSeconds?: number }): Promise<RbdSetup> {
  const root = o.root ?? await mkdtemp('/tmp/poolcsi-rel-rbd-');
  const secretsDir = o.secretsDir ?? '/run/lab/rbd/secrets';
  // The controller reads the pool's key from --secrets-dir; a node stage takes the CO's
  // node-stage secret, so the lane sends the same key with its calls, as a StorageClass would.
  const key = async (k: string) => (await readFile(join(secretsDir, 'poolcsi', 'ceph-client', k), 'utf8')).trim();
  const secrets = { userID: await key('userID'), userKey: await key('userKey') };
  const stage = join(root, 'stage');
  await mkdir(stage, { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 });
  const poolsFile = join(root, 'pools.yaml');
  await writeFile(poolsFile, `pools:\n  - id: ceph\n    type: rbd\n    monhost: [${o.monhost}]\n    pool: ${o.pool}\n    secretRef: {name: ceph-client, namespace: poolcsi}\n${o.timeoutSeconds ? `    timeoutSeconds: ${o.timeoutSeconds}\n` : ''}`
    + '  - {id: local, type: dir, path: ' + join(root, 'dirpool') + '}\n');
  await mkdir(join(root, 'dirpool'), { recursive: true });
  const driver = new DriverProcess({
    socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'),
    args: ['--path-prefix', stage, '--secrets-dir', secretsDir],
    // The driver's cephx key files (mkdtemp under TMPDIR) then lie under the lane's root, where
    // the argv check allows paths; under /tmp they were counted as unchecked argv.
    env: { TMPDIR: join(root, 'tmp') },
  });
  const lane: Lane = {
    type: 'rbd', pool: 'ceph', nodeId: o.nodeId,
    capability: { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: true },
    killWindowMs: 3000,
    callTimeoutMs: 120_000,
    truth: new RbdTruth(o.pool, 'rel-'),
    stagingRoot: stage,
    secrets,
  };
  return { lane, driver, root };
}

export function rbdFuzzSetup(s: RbdSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: ['ceph', 'local'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc/ceph', '/dev/rbd0'], skip: [join(s.root, 'dirpool')],
    // python3: the librbd helper (helpers/librbd-helper.py), started once per cluster and key.
    programs: ['rbd', 'ceph', 'python3', 'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'fsck', 'blockdev', 'cp', 'wipefs'],
    roots: ['/dev', '/proc', '/sys', '/run', '/etc/ceph', packageFile('helpers')],
  });
}
