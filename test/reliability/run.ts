// The reliability harness from the command line, for one lane on this machine (the host for dir;
// inside a lab node for lvm, lvmthin, rbd, iscsi (LVs or files) and nfs, in the ZFS guest for zfspool and zfs-iscsi, where
// soak.ts or a lab test starts it):
//   node dist/test/reliability/run.js --type dir --ops 200 --seed 7 --fuzz 10000 [--stage-rounds 6] [--json FILE]
// Prints progress, then every problem found (one line each) and a summary; exit 1 on problems.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { problems, runLane, summary, type LaneReport } from './core/suite.js';
import { dirFuzzSetup, dirLane } from './lanes/dir.js';
import { lvmLane, lvmFuzzSetup } from './lanes/lvm.js';
import { rbdLane, rbdFuzzSetup } from './lanes/rbd.js';
import { iscsiLane, iscsiFuzzSetup } from './lanes/iscsi.js';
import { nfsLane, nfsFuzzSetup } from './lanes/nfs.js';
import { zfsIscsiFuzzSetup, zfsIscsiLane, zfsLane, zfsFuzzSetup } from './lanes/zfs.js';
import { unmountUnder } from './core/cleanup.js';

const { values: a } = parseArgs({
  options: {
    type: { type: 'string', default: 'dir' },
    ops: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    fuzz: { type: 'string', default: '2000' },
    'stage-rounds': { type: 'string', default: '6' },
    'kill-rate': { type: 'string' },
    json: { type: 'string' },
    // lab lanes: where the pool lives
    vg: { type: 'string', default: 'labvg' },
    thinpool: { type: 'string', default: 'thin' }, // the lab's (test/lab/node/services/lvm.sh)
    'rbd-pool': { type: 'string', default: 'rbd' },
    monhost: { type: 'string', default: '127.0.0.1:6789' },
    export: { type: 'string', default: '/srv/nfs' },
    files: { type: 'string', default: '/srv/rel-files' }, // iscsi-file: an existing directory (XFS for reflinks) // the lab's (test/lab/node/services/nfs.sh)
    parent: { type: 'string', default: 'tank/k8s' }, // the ZFS guest's (harness/zfsguest.ts createZpool)
    'node-id': { type: 'string' },
    root: { type: 'string' },
  },
});

const seed = Number(a.seed);
const log = (s: string) => process.stderr.write(`${s}\n`);
const setup = a.type === 'dir' ? await dirLane(a.root)
  : a.type === 'lvm' || a.type === 'lvmthin' ? await lvmLane({ type: a.type, vg: a.vg!, thinpool: a.thinpool!, nodeId: a['node-id'] ?? 'rel-node', root: a.root })
  : a.type === 'rbd' ? await rbdLane({ pool: a['rbd-pool']!, monhost: a.monhost!, nodeId: a['node-id'] ?? 'rel-node', root: a.root })
  : a.type === 'iscsi' || a.type === 'iscsi-file' ? await iscsiLane({ vg: a.vg!, thinpool: a.thinpool!, nodeId: a['node-id'] ?? 'rel-node', root: a.root, files: a.type === 'iscsi-file' ? a.files : undefined })
  : a.type === 'nfs' ? await nfsLane({ exportPath: a.export!, nodeId: a['node-id'] ?? 'rel-node', root: a.root })
  : a.type === 'zfspool' ? await zfsLane({ parent: a.parent!, nodeId: a['node-id'] ?? 'rel-node', root: a.root })
  : a.type === 'zfs-iscsi' ? await zfsIscsiLane({ parent: a.parent!, nodeId: a['node-id'] ?? 'rel-node', root: a.root })
  : undefined;
if (!setup) throw new Error(`no lane for type ${a.type}`);
const fuzzSetup = a.type === 'dir' ? await dirFuzzSetup(setup as Awaited<ReturnType<typeof dirLane>>)
  : a.type === 'rbd' ? await rbdFuzzSetup(setup as Awaited<ReturnType<typeof rbdLane>>)
  : a.type === 'iscsi' || a.type === 'iscsi-file' ? await iscsiFuzzSetup(setup as Awaited<ReturnType<typeof iscsiLane>>)
  : a.type === 'nfs' ? await nfsFuzzSetup(setup as Awaited<ReturnType<typeof nfsLane>>)
  : a.type === 'zfspool' ? await zfsFuzzSetup(setup as Awaited<ReturnType<typeof zfsLane>>)
  : a.type === 'zfs-iscsi' ? await zfsIscsiFuzzSetup(setup as Awaited<ReturnType<typeof zfsIscsiLane>>)
  : await lvmFuzzSetup(setup as Awaited<ReturnType<typeof lvmLane>>);
let report: LaneReport;
try {
  report = await runLane(setup.lane, setup.driver, {
    seed, ops: Number(a.ops), fuzz: Number(a.fuzz), stageRounds: Number(a['stage-rounds']), fuzzSetup, log,
    ...(a['kill-rate'] ? { killRate: Number(a['kill-rate']) } : {}),
  });
} finally {
  await setup.driver.stop();
  unmountUnder(setup.lane.stagingRoot!);
}
const found = problems(report);
if (a.json) writeFileSync(a.json, `${JSON.stringify({ report, problems: found, root: setup.root }, null, 1)}\n`);
for (const p of found) log(`PROBLEM ${p}`);
log(summary(report, seed, found.length, setup.root));
process.exitCode = found.length ? 1 : 0;
