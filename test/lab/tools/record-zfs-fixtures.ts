// Records the zfs outputs and error messages the unit tests parse (test/fixtures/zfs/), from
// real OpenZFS in the lab's ZFS guest, running the very argv the backend builds. Run as root
// after npm run build:  node dist/test/lab/tools/record-zfs-fixtures.js
// Fixtures are never written by hand: rerun this after changing a command's columns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, withZfsGuest, type LabNode } from '../harness/index.js';
import {
  cloneCmd, createDatasetCmd, createZvolCmd, destroyCmd, listDatasetsCmd, listSnapshotsCmd, renameCmd, setCmd, snapshotCmd, spaceCmd,
  zpoolListCmd, allFilesystemsCmd, type Program,
} from '../../../src/backends/zfspool/commands.js';
import { snapshotProps, volumeProps, enc } from '../../../src/backends/zfspool/props.js';
import { zfsInfoArgs } from '../../../src/node/transports/zfs.js';

const OUT = join(REPO_ROOT, 'test', 'fixtures', 'zfs');
const P = 'tank/k8s';

interface Recorded { argv: string[]; code: number | null; stdout: string; stderr: string }

async function rec(g: LabNode, p: Program): Promise<Recorded> {
  const r = await g.exec([p.program, ...p.args], { timeoutMs: 120_000 });
  return { argv: [p.program, ...p.args], code: r.code, stdout: r.stdout, stderr: r.stderr };
}

async function must(g: LabNode, p: Program): Promise<Recorded> {
  const r = await rec(g, p);
  if (r.code !== 0) throw new Error(`${r.argv.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r;
}

await withZfsGuest({ name: 'zfs-fixtures', diskBytes: 2 * 1024 ** 3 }, async ({ guest: g, image }) => {
  mkdirSync(OUT, { recursive: true });
  const state = (volume: string, mode: 'block' | 'filesystem') => ({ pool: 'zfs', volume, request: `req-${volume}`, mode, params: { compression: 'lz4' } });
  // A zvol, a dataset, a CSI snapshot of each, a restore of each (grown), a driver clone source.
  await must(g, createZvolCmd(`${P}/pvc-blk`, 64 * 1024 ** 2, true, { compression: 'lz4', ...volumeProps(state('pvc-blk', 'block'), true) }));
  await must(g, createDatasetCmd(`${P}/pvc-fs`, { refquota: String(64 * 1024 ** 2), compression: 'lz4', ...volumeProps({ ...state('pvc-fs', 'filesystem'), pvc: { namespace: 'ns1', name: 'data', pvName: 'pvc-fs' } }, true) }));
  await must(g, { program: 'dd', args: ['if=/dev/urandom', `of=/${P}/pvc-fs/f`, 'bs=1M', 'count=4', 'status=none'] });
  await must(g, snapshotCmd(`${P}/pvc-blk@snap-1`, { ...snapshotProps('zfs', 'pvc-blk', 'snap-1', 'snapshot-req-1'), 'poolcsi.io:size': enc(64 * 1024 ** 2) }));
  await must(g, snapshotCmd(`${P}/pvc-fs@snap-2`, { ...snapshotProps('zfs', 'pvc-fs', 'snap-2', 'snapshot-req-2'), 'poolcsi.io:size': enc(64 * 1024 ** 2) }));
  await must(g, cloneCmd(`${P}/pvc-blk@snap-1`, `${P}/pvc-restore`, volumeProps({ ...state('pvc-restore', 'block'), source: { kind: 'snapshot', volume: 'pvc-blk', snapshot: 'snap-1' } }, false)));
  await must(g, setCmd(`${P}/pvc-restore`, { volsize: String(128 * 1024 ** 2), 'poolcsi.io:complete': enc(true) }));
  await must(g, snapshotCmd(`${P}/pvc-fs@clone:pvc-fsclone`, { 'poolcsi.io:internal': enc(true), 'poolcsi.io:size': enc(64 * 1024 ** 2) }));
  await must(g, cloneCmd(`${P}/pvc-fs@clone:pvc-fsclone`, `${P}/pvc-fsclone`, { refquota: String(96 * 1024 ** 2), ...volumeProps({ ...state('pvc-fsclone', 'filesystem'), source: { kind: 'volume', volume: 'pvc-fs' } }, true) }));
  // A deleted volume moved aside while its clone lives.
  await must(g, setCmd(`${P}/pvc-blk`, { 'poolcsi.io:trash': enc('2026-12-01T00:00:00.000Z') }));
  await must(g, renameCmd(`${P}/pvc-blk`, `${P}/trash:0a1b2c3d:pvc-blk`));
  // A thick zvol (with its reservation), for the errors of growing one.
  await must(g, createZvolCmd(`${P}/pvc-thick`, 64 * 1024 ** 2, false, {}));
  await must(g, { program: 'udevadm', args: ['settle', '-t', '30'] });

  const outputs: Record<string, Recorded> = {
    datasets: await must(g, listDatasetsCmd(P)),
    snapshots: await must(g, listSnapshotsCmd(P)),
    space: await must(g, spaceCmd(P)),
    zpools: await must(g, zpoolListCmd()),
    filesystems: await must(g, allFilesystemsCmd()),
    nodeInfoZvol: await must(g, { program: 'zfs', args: zfsInfoArgs(`${P}/pvc-restore`) }),
    nodeInfoDataset: await must(g, { program: 'zfs', args: zfsInfoArgs(`${P}/pvc-fs`) }),
  };
  const errors: Record<string, Recorded> = {
    exists: await rec(g, createZvolCmd(`${P}/pvc-restore`, 64 * 1024 ** 2, true, {})),
    missingDataset: await rec(g, listDatasetsCmd('tank/nothere')),
    missingSnapshotClone: await rec(g, cloneCmd(`${P}/pvc-fs@nothere`, `${P}/x`, {})),
    outOfSpaceZvol: await rec(g, createZvolCmd(`${P}/pvc-huge`, 64 * 1024 ** 4, false, {})),
    outOfSpaceDataset: await rec(g, createDatasetCmd(`${P}/pvc-huge2`, { refreservation: String(64 * 1024 ** 4) })),
    volsizeNotMultiple: await rec(g, createZvolCmd(`${P}/pvc-odd`, 64 * 1024 ** 2 + 1, true, { volblocksize: '16384' })),
    badCompression: await rec(g, createDatasetCmd(`${P}/pvc-bad`, { compression: 'snappy' })),
    destroyWithSnapshots: await rec(g, destroyCmd(`${P}/pvc-fs`)),
    destroySnapshotWithClones: await rec(g, destroyCmd(`${P}/pvc-fs@clone:pvc-fsclone`)),
    destroyOriginWithClones: await rec(g, destroyCmd(`${P}/trash:0a1b2c3d:pvc-blk@snap-1`)),
    shrinkRefquotaBelowUsed: await rec(g, setCmd(`${P}/pvc-fs`, { refquota: String(1024 ** 2) })),
    // Expanding a non-sparse dataset (refreservation) or zvol (volsize with its reservation) past the pool.
    reservationPastSpace: await rec(g, setCmd(`${P}/pvc-fs`, { refquota: String(64 * 1024 ** 4), refreservation: String(64 * 1024 ** 4) })),
    thickZvolPastSpace: await rec(g, setCmd(`${P}/pvc-thick`, { volsize: String(64 * 1024 ** 4) })),
    volsizeNotMultipleSet: await rec(g, setCmd(`${P}/pvc-thick`, { volsize: String(64 * 1024 ** 2 + 512) })),
    badVolblocksize: await rec(g, createZvolCmd(`${P}/pvc-vbs`, 64 * 1024 ** 2, true, { volblocksize: '3000' })),
    renameOntoExisting: await rec(g, renameCmd(`${P}/pvc-fsclone`, `${P}/pvc-fs`)),
    missingParent: await rec(g, createDatasetCmd('tank/nothere/pvc-x', {})),
    missingPool: await rec(g, spaceCmd('nopool/k8s')),
    destroyMissing: await rec(g, destroyCmd(`${P}/pvc-gone`)),
    destroyMissingSnapshot: await rec(g, destroyCmd(`${P}/pvc-fs@gone`)),
  };
  const meta = { kernel: image.manifest.kernel, zfs: image.manifest.zfs, recorded: new Date().toISOString(), recordedBy: 'test/lab/tools/record-zfs-fixtures.ts' };
  writeFileSync(join(OUT, 'outputs.json'), `${JSON.stringify({ meta, outputs }, null, 1)}\n`);
  writeFileSync(join(OUT, 'errors.json'), `${JSON.stringify({ meta, errors }, null, 1)}\n`);
  for (const [k, v] of Object.entries(errors)) process.stdout.write(`${k}: exit ${v.code}: ${v.stderr.trim()}\n`);
});
