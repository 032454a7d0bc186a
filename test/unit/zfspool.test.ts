// zfspool: the exact argv of every zfs command, names, the validated property list, the pool
// schema and the node descriptor. zfspool-recorded.test.ts parses real OpenZFS output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cloneCmd, createDatasetCmd, createZvolCmd, destroyCmd, getDatasetCmd, listDatasetsCmd, listSnapshotsCmd, renameCmd, setCmd, snapshotCmd,
  isBlockCmd, settleCmd, spaceCmd, zpoolListCmd,
} from '../../src/backends/zfspool/commands.js';
import { isLocal, nodeContextOf, traitsOf } from '../../src/backends/index.js';
import { IDENTITY_KEYS } from '../../src/pools/identity.js';
import { cloneSourceSnapshot, snapshotName, trashDataset, volumeDataset } from '../../src/backends/zfspool/names.js';
import { nativeProps } from '../../src/backends/zfspool/props.js';
import { StorageError } from '../../src/backends/errors.js';
import { parsePools } from '../../src/pools/validate.js';
import { isZfsDatasetName, ZfsTransport } from '../../src/node/transports/zfs.js';
import { local, type Runner } from '../../src/exec/index.js';
import { Zfs } from '../../src/backends/zfspool/zfs.js';


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

test('zfs-iscsi: the iscsi export keys plus a dataset; exported like an iscsi pool; zvol properties only', () => {
  const ssh = '{host: 192.0.2.7, privateKey: {file: /k}, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO6wJ3V7c0yPXkN8Yl7pN1uYJm3tTzqv2Ii5mVxQ8Rk1"}';
  const yaml = (extra: string) => `pools:\n  - {id: zsan, type: zfs-iscsi, pool: tank/k8s, portals: ["192.0.2.7"], iqnPrefix: iqn.2003-01.org.example, ${extra}}\n`;
  const pool = parsePools(yaml(`ssh: ${ssh}`)).pools[0]!;
  assert.equal(pool.type, 'zfs-iscsi');
  assert.equal(isLocal(pool), false);
  assert.deepEqual(nodeContextOf(pool, { name: 'pvc-0a1b' }), {
    transport: 'iscsi', descriptor: { target: 'iqn.2003-01.org.example:zsan.pvc-0a1b', lun: '0', portals: '192.0.2.7' },
  });
  assert.equal(parsePools(yaml('local: true')).pools[0]?.type, 'zfs-iscsi');
  assert.throws(() => parsePools(yaml('')), /exactly one of ssh and local/);
  assert.throws(() => parsePools(yaml(`local: true, backing: {type: lvmthin, vgname: v, thinpool: t}`)), /unknown key\(s\) "backing"/);
  assert.throws(() => parsePools(yaml('local: true, pool: /tank')), /pool/);
  assert.deepEqual([...traitsOf('zfs-iscsi').params], ['sparse', 'volblocksize', 'compression']);
  assert.deepEqual(IDENTITY_KEYS['zfs-iscsi'], ['portals', 'iqnPrefix', 'pool']);
});

test('a zvol\'s udev link: a block-device test, and only when it is not there yet, a bounded settle and a second test', async () => {
  assert.deepEqual(settleCmd('/dev/zvol/tank/k8s/pvc-1', 30), { program: 'udevadm', args: ['settle', '--exit-if-exists=/dev/zvol/tank/k8s/pvc-1', '--timeout=30'] });
  assert.deepEqual(isBlockCmd('/dev/zvol/tank/k8s/pvc-1'), { program: 'test', args: ['-b', '/dev/zvol/tank/k8s/pvc-1'] });
  // test(1) answers 0 or 1 and prints nothing; udevadm settle answers 0.
  for (const [answers, expect] of [[[0], ['test']], [[1, 0, 0], ['test', 'udevadm', 'test']], [[1, 0, 1], ['test', 'udevadm', 'test']]] as const) {
    const ran: string[] = [];
    const codes = [...answers];
    const runner: Runner = { host: 'h', run: async (program) => { ran.push(program); return { stdout: '', stderr: '', exitCode: codes.shift()!, durationMs: 1 }; } };
    const waited = new Zfs(runner, 'tank/k8s').waitForDevice('/dev/zvol/tank/k8s/pvc-1');
    if (answers.at(-1) === 1) await assert.rejects(waited, (e: StorageError) => e.kind === 'unavailable' && /did not appear/.test(e.message));
    else await waited;
    assert.deepEqual(ran, expect);
  }
});
