// The nfs lane, run inside a lab node that is its own NFS server (service nfs: kernel nfsd
// exporting /srv/nfs): an nfs pool over NFSv4.2 on loopback, no server agent (snapshots and
// clones are copies through the controller's mount), the driver with --mode all.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { NfsTruth } from '../truth/nfs.js';

export interface NfsSetup { lane: Lane; driver: DriverProcess; root: string; exportPath: string }

const POOL = 'nfs1';

export async function nfsLane(o: { exportPath: string; nodeId: string; root?: string | undefined }): Promise<NfsSetup> {
  const root = o.root ?? await mkdtemp('/tmp/poolcsi-rel-nfs-');
  const stage = join(root, 'stage');
  await mkdir(stage, { recursive: true });
  await mkdir(join(root, 'dirpool'), { recursive: true });
  const poolsFile = join(root, 'pools.yaml');
  await writeFile(poolsFile, JSON.stringify({
    pools: [
      { id: POOL, type: 'nfs', server: '127.0.0.1', export: o.exportPath, options: ['vers=4.2'], timeoutSeconds: 10 },
      { id: 'local', type: 'dir', path: join(root, 'dirpool') },
    ],
  }));
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: 'nfs', pool: POOL, nodeId: o.nodeId,
    capability: { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: true },
    killWindowMs: 1500,
    callTimeoutMs: 120_000,
    truth: await new NfsTruth(o.exportPath).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, exportPath: o.exportPath };
}

export async function nfsFuzzSetup(s: NfsSetup): Promise<FuzzSetup> {
  const bait = join(s.root, 'outside');
  await mkdir(join(bait, 'keep'), { recursive: true });
  await writeFile(join(bait, 'keep', 'file'), 'must survive the fuzz\n');
  const stage = s.lane.stagingRoot!;
  return {
    pools: [POOL, 'local'],
    nodeIds: [s.lane.nodeId, 'other-node', ''],
    goodPaths: [join(stage, 'fuzz'), join(stage, 'fuzz-target')],
    baitPaths: [bait, join(bait, 'keep'), join(bait, 'keep', 'file'), '/etc', s.exportPath],
    areas: {
      trees: [s.root],
      skip: [stage, join(s.root, 'dirpool'), join(s.root, 'driver.log'), join(s.root, 'csi.sock')],
      stable: ['/', '/etc'],
      busy: ['/tmp', '/run'],
      mountRoots: [stage],
    },
    argv: {
      programs: ['mount', 'umount', 'cp', 'stat', 'findmnt'],
      // The controller's own mount of the export lives under /run/poolcsi/nfs.
      roots: [s.root, '/run', '/proc', '/sys'],
    },
    boundMs: 60_000,
  };
}
