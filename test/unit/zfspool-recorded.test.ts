// zfspool: the parsers and the error mapping fed with output recorded from real OpenZFS in the
// lab's ZFS guest (test/fixtures/zfs/, written by test/lab/tools/record-zfs-fixtures.ts running
// the backend's own argv; never by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ExecError } from '../../src/exec/index.js';
import { allFilesystemsCmd, listDatasetsCmd, listSnapshotsCmd, spaceCmd, zpoolListCmd } from '../../src/backends/zfspool/commands.js';
import { zfsErrorKind } from '../../src/backends/zfspool/errors.js';
import { isTrash } from '../../src/backends/zfspool/names.js';
import { dec, P } from '../../src/backends/zfspool/props.js';
import { parseDatasets, parseSnapshots, parseSpace, parseZpools } from '../../src/backends/zfspool/report.js';
import { parseZfsInfo, parseZfsInfos, ZfsTransport, zfsChildrenArgs, zfsInfoArgs } from '../../src/node/transports/zfs.js';
import type { Runner } from '../../src/exec/index.js';

interface Recorded { argv: string[]; code: number | null; stdout: string; stderr: string }
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../../test/fixtures/zfs/${name}`, import.meta.url), 'utf8')) as
  { meta: { zfs: string }; outputs: Record<string, Recorded>; errors: Record<string, Recorded> };
const { outputs } = fixture('outputs.json');
const { errors } = fixture('errors.json');

test('the recorded outputs came from the commands the backend builds', () => {
  assert.deepEqual(outputs.datasets!.argv, ['zfs', ...listDatasetsCmd('tank/k8s').args]);
  assert.deepEqual(outputs.snapshots!.argv, ['zfs', ...listSnapshotsCmd('tank/k8s').args]);
  assert.deepEqual(outputs.space!.argv, ['zfs', ...spaceCmd('tank/k8s').args]);
  assert.deepEqual(outputs.zpools!.argv, ['zpool', 'list', '-H', '-p', '-o', 'name,size,allocated,free,health']);
  assert.deepEqual(outputs.filesystems!.argv, ['zfs', ...allFilesystemsCmd().args]);
  assert.deepEqual(outputs.nodeInfoZvol!.argv, ['zfs', ...zfsInfoArgs('tank/k8s/pvc-restore')]);
  assert.deepEqual(outputs.datasets!.argv, [
    'zfs', 'list', '-H', '-p', '-r', '-d', '1', '-t', 'filesystem,volume', '-o',
    'name,type,used,available,referenced,volsize,refquota,refreservation,origin,creation,mounted,mountpoint,volblocksize,'
    + 'poolcsi.io:pool,poolcsi.io:volume,poolcsi.io:request,poolcsi.io:mode,poolcsi.io:params,poolcsi.io:source,poolcsi.io:pvc,'
    + 'poolcsi.io:complete,poolcsi.io:published,poolcsi.io:snapshot,poolcsi.io:snapdeleted,poolcsi.io:internal,poolcsi.io:trash',
    'tank/k8s',
  ]);
  for (const [name, r] of Object.entries({ ...outputs })) assert.equal(r.code, 0, `${name} exited ${r.code}`);
});

test('datasets: zvols, datasets with refquota, clones, the trash, user properties as JSON', () => {
  const rows = parseDatasets(outputs.datasets!.stdout);
  const by = new Map(rows.map((r) => [r.name, r]));
  assert.equal(by.get('tank/k8s')?.type, 'filesystem');
  const fs = by.get('tank/k8s/pvc-fs')!;
  assert.equal(fs.type, 'filesystem');
  assert.equal(fs.refquotaBytes, 64 * 1024 ** 2);
  assert.equal(fs.volsizeBytes, -1);
  assert.equal(fs.mounted, true);
  assert.equal(fs.mountpoint, '/tank/k8s/pvc-fs');
  assert.equal(dec(fs.props[P.volume]), 'pvc-fs');
  assert.deepEqual(dec(fs.props[P.pvc]), { namespace: 'ns1', name: 'data', pvName: 'pvc-fs' });
  assert.equal(fs.props[P.snapshot], '-');
  const restore = by.get('tank/k8s/pvc-restore')!;
  assert.equal(restore.type, 'volume');
  assert.equal(restore.volsizeBytes, 128 * 1024 ** 2, 'a restore grown past its snapshot');
  assert.equal(restore.origin, 'tank/k8s/trash:0a1b2c3d:pvc-blk@snap-1', 'the origin follows the renamed (trashed) volume');
  assert.equal(dec(restore.props[P.complete]), true);
  assert.equal(restore.volblocksize, 8192, "OpenZFS 2.1's default volblocksize (the backend rounds zvols to 16 KiB, a multiple)");
  const thick = by.get('tank/k8s/pvc-thick')!;
  assert.equal(thick.type, 'volume');
  assert.ok(thick.refreservationBytes >= 64 * 1024 ** 2, 'a zvol made without -s reserves its size');
  assert.equal(thick.props[P.pool], '-', 'a dataset without our properties shows "-"');
  const trash = by.get('tank/k8s/trash:0a1b2c3d:pvc-blk')!;
  assert.ok(isTrash('tank/k8s', trash.name));
  assert.equal(dec(trash.props[P.trash]), '2026-12-01T00:00:00.000Z');
  assert.equal(by.get('tank/k8s/pvc-fsclone')?.refquotaBytes, 96 * 1024 ** 2);
  assert.ok(rows.every((r) => r.availableBytes > 0 && r.createdAt > '2020'));
});

test('snapshots: CSI snapshots carry their own properties and inherit the rest; clones listed', () => {
  const snaps = parseSnapshots(outputs.snapshots!.stdout);
  const by = new Map(snaps.map((s) => [s.name, s]));
  const blk = by.get('tank/k8s/trash:0a1b2c3d:pvc-blk@snap-1')!;
  assert.equal(blk.dataset, 'tank/k8s/trash:0a1b2c3d:pvc-blk');
  assert.equal(dec(blk.props[P.snapshot]), 'snap-1');
  assert.equal(dec(blk.props[P.request]), 'snapshot-req-1', 'set on the snapshot, not inherited from the volume');
  assert.equal(blk.volsizeBytes, 64 * 1024 ** 2);
  assert.deepEqual(blk.clones, ['tank/k8s/pvc-restore']);
  const src = by.get('tank/k8s/pvc-fs@clone:pvc-fsclone')!;
  assert.equal(dec(src.props[P.internal]), true);
  assert.equal(src.props[P.snapshot], '-');
  assert.equal(dec(src.props[P.volume]), 'pvc-fs', 'inherited from its dataset');
  assert.deepEqual(src.clones, ['tank/k8s/pvc-fsclone']);
  assert.equal(dec(by.get('tank/k8s/pvc-fs@snap-2')!.props['poolcsi.io:size']), 64 * 1024 ** 2);
});

test('space, pools, node info', () => {
  const [space] = parseSpace(outputs.space!.stdout);
  assert.equal(space?.name, 'tank/k8s');
  assert.ok(space!.availableBytes > 1024 ** 3 && space!.usedBytes > 0);
  const pools = parseZpools(outputs.zpools!.stdout);
  assert.equal(pools[0]?.name, 'tank');
  assert.equal(pools[0]?.health, 'ONLINE');
  assert.deepEqual(parseZfsInfo(outputs.nodeInfoZvol!.stdout), { name: 'tank/k8s/pvc-restore', type: 'volume', mounted: false, mountpoint: '' });
  assert.deepEqual(parseZfsInfo(outputs.nodeInfoDataset!.stdout), { name: 'tank/k8s/pvc-fs', type: 'filesystem', mounted: true, mountpoint: '/tank/k8s/pvc-fs' });
});

test('node conditions: one listing of the parent answers every volume under it for HEALTH_TTL_MS; a volume missing from it is read again', async () => {
  // The listing has the recorded single-dataset reads' columns, one level below the parent (-r -d 1).
  assert.deepEqual(zfsChildrenArgs('tank/k8s'), [...zfsInfoArgs('tank/k8s').slice(0, -1).flatMap((a) => (a === '-p' ? ['-p', '-r', '-d', '1'] : [a])), 'tank/k8s']);
  const listing = outputs.nodeInfoZvol!.stdout + outputs.nodeInfoDataset!.stdout;
  assert.deepEqual(parseZfsInfos(listing).map((r) => r.name), ['tank/k8s/pvc-restore', 'tank/k8s/pvc-fs']);
  // Replays the recorded lines for the listing; counts the runs.
  const runs: string[][] = [];
  const replay: Runner = {
    host: 'local',
    run: async (program, args) => {
      runs.push([program, ...args]);
      return { stdout: listing, stderr: '', exitCode: 0, durationMs: 1 } as Awaited<ReturnType<Runner['run']>>;
    },
  };
  const t = new ZfsTransport(replay);
  const stashed = (dataset: string) => ({ descriptor: { dataset }, stash: {}, path: '' });
  assert.deepEqual(await t.condition(stashed('tank/k8s/pvc-fs')), { abnormal: false, message: 'dataset tank/k8s/pvc-fs present' });
  assert.deepEqual(await t.condition(stashed('tank/k8s/pvc-restore')), { abnormal: false, message: 'zvol tank/k8s/pvc-restore present' });
  assert.equal(runs.length, 1, 'two volumes, one listing');
  assert.deepEqual(runs[0], ['zfs', ...zfsChildrenArgs('tank/k8s')]);
  assert.equal((await t.condition(stashed('tank/k8s/pvc-gone'))).abnormal, true);
  assert.equal(runs.length, 2, 'a volume missing from the shared listing is looked for in a fresh one');
});

test('zfs error messages map to storage error kinds', () => {
  const kinds: Record<string, string> = {
    exists: 'exists',
    missingDataset: 'not-found',
    missingSnapshotClone: 'not-found',
    outOfSpaceZvol: 'exhausted',
    outOfSpaceDataset: 'exhausted',
    badCompression: 'invalid',
    badVolblocksize: 'invalid',
    volsizeNotMultipleSet: 'invalid',
    reservationPastSpace: 'exhausted',
    thickZvolPastSpace: 'exhausted',
    renameOntoExisting: 'exists',
    missingParent: 'precondition',
    missingPool: 'not-found',
    destroyMissing: 'not-found',
    destroyMissingSnapshot: 'not-found',
    destroyWithSnapshots: 'precondition',
    destroySnapshotWithClones: 'precondition',
    destroyOriginWithClones: 'precondition',
    shrinkRefquotaBelowUsed: 'invalid',
  };
  for (const [name, kind] of Object.entries(kinds)) {
    const r = errors[name]!;
    assert.notEqual(r.code, 0, `${name} failed in the guest`);
    const e = new ExecError('zfs', r.argv.slice(1), r.code ?? undefined, r.stderr, r.stdout, 'exit');
    assert.equal(zfsErrorKind(e), kind, `${name}: ${r.stderr.trim()}`);
  }
  // `zfs create -V` rounds a size that is not a multiple of volblocksize up (only `zfs set volsize` refuses it).
  assert.equal(errors.volsizeNotMultiple!.code, 0);
  // A phrase inside a quoted name is not the message.
  assert.equal(zfsErrorKind(new ExecError('zfs', [], 1, "cannot open 'tank/out of space': dataset does not exist\n", '', 'exit')), 'not-found');
  assert.equal(zfsErrorKind(new ExecError('zfs', [], 1, 'something new\n', '', 'exit')), 'internal');
  assert.equal(zfsErrorKind(new ExecError('zfs', [], undefined, '', '', 'timeout')), 'unavailable');
  assert.equal(zfsErrorKind(new ExecError('zfs', [], undefined, '', '', 'not-found')), 'unavailable');
});
