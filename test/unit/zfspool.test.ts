// zfspool: the exact argv of every zfs command, and the parsers and error mapping fed with
// output recorded from real OpenZFS in the lab's ZFS guest (test/fixtures/zfs/, written by
// test/lab/tools/record-zfs-fixtures.ts, never by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ExecError } from '../../src/exec/index.js';
import {
  cloneCmd, createDatasetCmd, createZvolCmd, destroyCmd, getDatasetCmd, listDatasetsCmd, listSnapshotsCmd, renameCmd, setCmd, snapshotCmd,
  spaceCmd, zpoolListCmd,
} from '../../src/backends/zfspool/commands.js';
import { zfsErrorKind } from '../../src/backends/zfspool/errors.js';
import { cloneSourceSnapshot, isTrash, snapshotName, trashDataset, volumeDataset } from '../../src/backends/zfspool/names.js';
import { dec, nativeProps, P } from '../../src/backends/zfspool/props.js';
import { parseDatasets, parseSnapshots, parseSpace, parseZpools } from '../../src/backends/zfspool/report.js';
import { StorageError } from '../../src/backends/errors.js';
import { parsePools } from '../../src/pools/validate.js';
import { isZfsDatasetName, parseZfsInfo, ZfsTransport } from '../../src/node/transports/zfs.js';
import { local } from '../../src/exec/index.js';

interface Recorded { argv: string[]; code: number | null; stdout: string; stderr: string }
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../../test/fixtures/zfs/${name}`, import.meta.url), 'utf8')) as
  { meta: { zfs: string }; outputs: Record<string, Recorded>; errors: Record<string, Recorded> };
const { outputs } = fixture('outputs.json');
const { errors } = fixture('errors.json');

const USER = 'poolcsi.io:pool,poolcsi.io:volume,poolcsi.io:request,poolcsi.io:mode,poolcsi.io:params,poolcsi.io:source,poolcsi.io:pvc,'
  + 'poolcsi.io:complete,poolcsi.io:published,poolcsi.io:snapshot,poolcsi.io:snapdeleted,poolcsi.io:internal,poolcsi.io:trash';

test('reads: -H -p with explicit columns, parent last', () => {
  assert.deepEqual([listDatasetsCmd('tank/k8s').program, ...listDatasetsCmd('tank/k8s').args], ['zfs', 'list', '-H', '-p', '-r', '-d', '1', '-t', 'filesystem,volume', '-o',
    `name,type,used,available,referenced,volsize,refquota,refreservation,origin,creation,mounted,mountpoint,volblocksize,${USER}`, 'tank/k8s']);
  assert.deepEqual(getDatasetCmd('tank/k8s/pvc-1').args.slice(0, 5), ['list', '-H', '-p', '-t', 'filesystem,volume']);
  assert.deepEqual(listSnapshotsCmd('tank/k8s').args, ['list', '-H', '-p', '-r', '-d', '2', '-t', 'snapshot', '-o',
    `name,used,referenced,creation,volsize,clones,${USER},poolcsi.io:size`, 'tank/k8s']);
  assert.deepEqual(spaceCmd('tank/k8s').args, ['list', '-H', '-p', '-o', 'name,used,available', 'tank/k8s']);
  assert.deepEqual(zpoolListCmd().args, ['list', '-H', '-p', '-o', 'name,size,allocated,free,health']);
});

test('changes: one zfs create with every property; snapshot, clone, set, rename, destroy', () => {
  assert.deepEqual(createZvolCmd('tank/k8s/pvc-1', 67108864, true, { compression: 'lz4', 'poolcsi.io:pool': '"zfs"' }).args,
    ['create', '-s', '-V', '67108864', '-o', 'compression=lz4', '-o', 'poolcsi.io:pool="zfs"', 'tank/k8s/pvc-1']);
  assert.deepEqual(createZvolCmd('tank/k8s/pvc-1', 67108864, false, {}).args, ['create', '-V', '67108864', 'tank/k8s/pvc-1']);
  assert.deepEqual(createDatasetCmd('tank/k8s/pvc-2', { refquota: '1048576' }).args, ['create', '-o', 'refquota=1048576', 'tank/k8s/pvc-2']);
  assert.deepEqual(snapshotCmd('tank/k8s/pvc-1@s', { 'poolcsi.io:snapshot': '"s"' }).args, ['snapshot', '-o', 'poolcsi.io:snapshot="s"', 'tank/k8s/pvc-1@s']);
  assert.deepEqual(cloneCmd('tank/k8s/pvc-1@s', 'tank/k8s/pvc-3', { refquota: '5' }).args, ['clone', '-o', 'refquota=5', 'tank/k8s/pvc-1@s', 'tank/k8s/pvc-3']);
  assert.deepEqual(setCmd('tank/k8s/pvc-1', { volsize: '1', 'poolcsi.io:complete': 'true' }).args, ['set', 'volsize=1', 'poolcsi.io:complete=true', 'tank/k8s/pvc-1']);
  assert.deepEqual(renameCmd('a/b', 'a/c').args, ['rename', 'a/b', 'a/c']);
  assert.deepEqual(destroyCmd('a/b@s').args, ['destroy', 'a/b@s']);
});

test('the recorded outputs came from the commands the backend builds', () => {
  assert.deepEqual(outputs.datasets!.argv, ['zfs', ...listDatasetsCmd('tank/k8s').args]);
  assert.deepEqual(outputs.snapshots!.argv, ['zfs', ...listSnapshotsCmd('tank/k8s').args]);
  assert.deepEqual(outputs.space!.argv, ['zfs', ...spaceCmd('tank/k8s').args]);
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
  assert.ok(restore.volblocksize > 0);
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

test('zfs error messages map to storage error kinds', () => {
  const kinds: Record<string, string> = {
    exists: 'exists',
    missingDataset: 'not-found',
    missingSnapshotClone: 'not-found',
    outOfSpaceZvol: 'exhausted',
    outOfSpaceDataset: 'exhausted',
    volsizeNotMultiple: 'invalid',
    badCompression: 'invalid',
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
  assert.equal(zfsErrorKind(new ExecError('zfs', [], undefined, '', '', 'timeout')), 'unavailable');
  assert.equal(zfsErrorKind(new ExecError('zfs', [], undefined, '', '', 'not-found')), 'unavailable');
});

test('names: volume names ZFS accepts are kept, others hashed; driver objects carry ":"', () => {
  assert.equal(volumeDataset('tank/k8s', 'pvc-0a1b'), 'tank/k8s/pvc-0a1b');
  assert.match(volumeDataset('tank/k8s', 'a+b'), /^tank\/k8s\/pv-[0-9a-f]{20}$/);
  assert.equal(snapshotName('tank/k8s/v', 'v', 'snapshot-1'), 'tank/k8s/v@snapshot-1');
  assert.match(snapshotName('tank/k8s/v', 'v', 's+1'), /^tank\/k8s\/v@snap-[0-9a-f]{20}$/);
  assert.equal(cloneSourceSnapshot('tank/k8s/a', 'tank/k8s/b'), 'tank/k8s/a@clone:b');
  assert.equal(trashDataset('tank/k8s', 'tank/k8s/a', '0a1b2c3d'), 'tank/k8s/trash:0a1b2c3d:a');
  assert.ok(isZfsDatasetName('tank/k8s/trash:0a1b2c3d:a'));
  for (const bad of ['tank', 'tank/../x', 'tank/k8s@s', 'tank/-x', 'tank//x', 'tank/x y']) assert.equal(isZfsDatasetName(bad), false, bad);
});

test('StorageClass properties: a validated list', () => {
  assert.deepEqual(nativeProps({}), { sparse: true });
  assert.deepEqual(nativeProps({ sparse: 'false', volblocksize: '16k', recordsize: '1M', compression: 'zstd-3' }),
    { sparse: false, volblocksize: 16384, recordsize: 1048576, compression: 'zstd-3' });
  const bads: Record<string, string>[] = [{ sparse: 'yes' }, { volblocksize: '12k' }, { volblocksize: '256k' }, { recordsize: '2M' }, { compression: 'snappy' }, { compression: 'lz4;reboot' }];
  for (const bad of bads) {
    assert.throws(() => nativeProps(bad), (e: unknown) => e instanceof StorageError && e.kind === 'invalid', JSON.stringify(bad));
  }
});

test('pool schema: pool is a dataset path', () => {
  assert.equal(parsePools('pools:\n  - {id: z, type: zfspool, pool: tank/k8s}\n').pools[0]?.type, 'zfspool');
  for (const bad of ['/tank', 'tank/', 'tank/k8s@s', 'tank k8s', '']) {
    assert.throws(() => parsePools(`pools:\n  - {id: z, type: zfspool, pool: ${JSON.stringify(bad)}}\n`), /field pool/, bad);
  }
});

test('node transport: descriptor checked before any zfs runs', () => {
  const t = new ZfsTransport(local);
  assert.deepEqual(t.parse({ dataset: 'tank/k8s/pvc-1' }), { dataset: 'tank/k8s/pvc-1' });
  for (const d of [{}, { dataset: 'tank/k8s/pvc-1', extra: 'x' }, { dataset: '-o mountpoint=/ tank' }, { dataset: 'tank/k8s/../../x' }]) {
    assert.throws(() => t.parse(d as Record<string, string>), /volume_context/, JSON.stringify(d));
  }
});
