import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activateCmd, copyCmd, createCowSnapshotCmd, createThickCmd, createThinCmd, createThinSnapshotCmd, extendCmd, layoutArgs, lvsCmd,
  removeCmd, tagCmd, wipeCmd,
} from '../../src/backends/lvm/commands.js';
import { thickLayout } from '../../src/backends/lvm/thick.js';
import { StorageError } from '../../src/backends/errors.js';

test('thick LV: size in bytes, wipe without a prompt, tags, VG last', () => {
  const c = createThickCmd('vg0', 'pvc-1', 1073741824, { mirror: 0, stripes: 1 }, ['poolcsi.io/pool=p', 'poolcsi.io/vol=pvc-1']);
  assert.equal(c.program, 'lvcreate');
  assert.deepEqual(c.args, ['-q', '--yes', '-W', 'y', '-n', 'pvc-1', '-L', '1073741824b', '--addtag', 'poolcsi.io/pool=p', '--addtag', 'poolcsi.io/vol=pvc-1', 'vg0']);
});

test('layouts: raid1, striped, raid10', () => {
  assert.deepEqual(layoutArgs({ mirror: 1, stripes: 1 }), ['--type', 'raid1', '-m', '1']);
  assert.deepEqual(layoutArgs({ mirror: 0, stripes: 3, stripeSize: '64k' }), ['-i', '3', '-I', '64k']);
  assert.deepEqual(layoutArgs({ mirror: 1, stripes: 2 }), ['--type', 'raid10', '-m', '1', '-i', '2']);
  assert.deepEqual(layoutArgs({ mirror: 0, stripes: 1 }), []);
});

test('thin LV, thin snapshots (a volume made from one activates normally), COW snapshot', () => {
  assert.deepEqual(createThinCmd('vg0', 'data', 'pvc-1', 4194304, ['t']).args, ['-q', '--yes', '-T', 'vg0/data', '-V', '4194304b', '-n', 'pvc-1', '--addtag', 't']);
  assert.deepEqual(createThinSnapshotCmd('vg0', 'pvc-1', 'snap.s', ['t'], false).args, ['-q', '--yes', '-s', '-n', 'snap.s', '--addtag', 't', 'vg0/pvc-1']);
  assert.deepEqual(createThinSnapshotCmd('vg0', 'snap.s', 'pvc-2', [], true).args, ['-q', '--yes', '-s', '-k', 'n', '-n', 'pvc-2', 'vg0/snap.s']);
  assert.deepEqual(createCowSnapshotCmd('vg0', 'pvc-1', 'snap.s', 25, []).args, ['-q', '--yes', '-s', '-l', '25%ORIGIN', '-n', 'snap.s', 'vg0/pvc-1']);
});

test('other commands', () => {
  assert.deepEqual(activateCmd('vg0', 'x').args, ['-q', '-a', 'y', '-K', 'vg0/x']);
  assert.deepEqual(extendCmd('vg0', 'x', 8388608).args, ['-q', '-L', '8388608b', 'vg0/x']);
  assert.deepEqual(removeCmd('vg0', 'x').args, ['-q', '-y', 'vg0/x']);
  assert.deepEqual(tagCmd('vg0', 'x', ['a'], ['b']).args, ['-q', '--addtag', 'a', '--deltag', 'b', 'vg0/x']);
  assert.deepEqual(wipeCmd('/dev/dm-3', 'zero'), { program: 'blkdiscard', args: ['--zeroout', '--force', '/dev/dm-3'] });
  assert.deepEqual(wipeCmd('/dev/dm-3', 'discard').args, ['--force', '/dev/dm-3']);
  assert.ok(copyCmd('/dev/dm-1', '/dev/dm-2', 1024).args.includes('count=1024'));
  assert.ok(!copyCmd('/dev/dm-1', '/dev/dm-2', 1024).args.some((a) => a.includes('sparse')), 'a thick copy must write every block');
  const lvs = lvsCmd('vg0', ['a', 'b']);
  assert.deepEqual(lvs.args.slice(0, 5), ['--reportformat', 'json', '--units', 'b', '--nosuffix']);
  assert.deepEqual(lvs.args.slice(-2), ['vg0/a', 'vg0/b']);
  assert.equal(lvsCmd('vg0').args.at(-1), 'vg0');
});

test('thick layout: StorageClass parameters over pool settings, validated', () => {
  assert.deepEqual(thickLayout({}, {}), { mirror: 0, stripes: 1 });
  assert.deepEqual(thickLayout({ mirror: 1 }, {}), { mirror: 1, stripes: 1 });
  assert.deepEqual(thickLayout({ mirror: 1 }, { mirror: '0' }), { mirror: 0, stripes: 1 });
  assert.deepEqual(thickLayout({}, { stripes: '2', stripeSize: '128k' }), { mirror: 0, stripes: 2, stripeSize: '128k' });
  const bad = (params: Record<string, string>) => assert.throws(() => thickLayout({}, params), (e) => e instanceof StorageError && e.kind === 'invalid');
  bad({ mirror: 'two' });
  bad({ mirror: '9' });
  bad({ stripes: '0' });
  bad({ stripes: '2', stripeSize: '48k' });
  bad({ stripeSize: '64k' });
  bad({ mirror: '2', stripes: '2' });
});
