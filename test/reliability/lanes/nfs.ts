// The nfs lane, run inside a lab node that is its own NFS server (service nfs: kernel nfsd
// exporting /srv/nfs): an nfs pool over NFSv4.2 on loopback, no server agent (snapshots and
// clones are copies through the controller's mount), the driver with --mode all.
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { baitedFuzzSetup, scratch } from '../core/setup.js';
import { NfsTruth } from '../truth/nfs.js';

export interface NfsSetup { lane: Lane; driver: DriverProcess; root: string; exportPath: string }

const POOL = 'nfs1';

export async function nfsLane(o: { exportPath: string; nodeId: string; root?: string | undefined; timeoutSeconds?: number }): Promise<NfsSetup> {
  const { root, stage, poolsFile } = await scratch('nfs', o.root,
    { id: POOL, type: 'nfs', server: '127.0.0.1', export: o.exportPath, options: ['vers=4.2'], timeoutSeconds: o.timeoutSeconds ?? 10 });
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

export function nfsFuzzSetup(s: NfsSetup): Promise<FuzzSetup> {
  return baitedFuzzSetup({
    root: s.root, stagingRoot: s.lane.stagingRoot!, pools: [POOL, 'local'], nodeIds: [s.lane.nodeId, 'other-node', ''],
    bait: ['/etc', s.exportPath], skip: [join(s.root, 'dirpool')],
    programs: ['mount', 'umount', 'cp', 'stat', 'findmnt'],
    // The controller's own mount of the export lives under /run/poolcsi/nfs.
    roots: ['/run', '/proc', '/sys'],
  });
}
