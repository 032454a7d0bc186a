// Parsing real LVM output (test/fixtures/lvm, recorded with LVM 2.03.16 in the lab), mapping
// real LVM error messages, and health from real degraded / full states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecError } from '../../src/exec/index.js';
import { lvmError, lvmErrorKind } from '../../src/backends/lvm/errors.js';
import { lvCondition } from '../../src/node/transports/lvm-health.js';
import { isCowOrigin, isCowSnapshot, isThinPool, parseLvs, parseLvTime, parseVgs, skipsActivation } from '../../src/backends/lvm/report.js';
import { parseTags, volumeFromTags } from '../../src/backends/lvm/tags.js';
import { StorageError } from '../../src/backends/errors.js';
import { fixture } from '../helpers/fixtures.js';

const rows = parseLvs(fixture('lvm/lvs-healthy.json'));
const lv = (name: string) => rows.find((r) => r.name === name)!;

test('lvs: sizes in bytes, kernel numbers, activation, percentages', () => {
  assert.equal(rows.length, 9);
  const thin1 = lv('pvc-thin1');
  assert.equal(thin1.sizeBytes, 104857600);
  assert.equal(thin1.pool, 'thin');
  assert.equal(thin1.dataPercent, 0);
  assert.deepEqual([thin1.major, thin1.minor, thin1.active], [254, 4, true]);
  assert.equal(thin1.dmPath, '/dev/mapper/fixvg-pvc--thin1');
  assert.equal(thin1.extentBytes, 4194304);
  assert.equal(thin1.createdAt, '2026-11-21T06:32:56.000Z');
  assert.equal(thin1.snapshotInvalid, false, '"unknown" is not invalid');
  const pool = lv('thin');
  assert.ok(isThinPool(pool));
  assert.equal(pool.metadataPercent, 10.94);
  assert.ok(pool.open);
});

test('lvs: thin snapshots are inactive with activation skip; COW snapshot and origin', () => {
  const snap = lv('snap.snapshot-1');
  assert.equal(snap.active, false);
  assert.equal(snap.major, -1);
  assert.ok(skipsActivation(snap));
  assert.equal(snap.origin, 'pvc-thin1');
  assert.equal(snap.open, false);
  const cow = lv('snap.snapshot-2');
  assert.ok(isCowSnapshot(cow));
  assert.equal(cow.sizeBytes, 20971520);
  assert.equal(cow.originSizeBytes, 67108864);
  assert.ok(isCowOrigin(lv('pvc-thick1')));
  assert.ok(!isCowOrigin(lv('pvc-raid')));
});

test('lvs: the tags poolcsi wrote read back as the volume', () => {
  const v = volumeFromTags(parseTags(lv('pvc-thin1').tags));
  assert.deepEqual(v, {
    pool: 'tp', name: 'pvc-thin1', requestName: 'pvc-thin1', mode: 'filesystem', params: { fsType: 'xfs' },
    pvc: { namespace: 'default', name: 'data-claim' },
  });
  const restored = volumeFromTags(parseTags(lv('pvc-restored').tags));
  assert.deepEqual(restored?.source, { kind: 'snapshot', volume: 'pvc-thin1', snapshot: 'snapshot-1' });
  assert.ok(parseTags(lv('pvc-restored').tags).has('incomplete'));
  assert.equal(volumeFromTags(parseTags(lv('foreign').tags)), undefined);
});

test('lvs: an open LV; the report of names of which one is missing still lists the others', () => {
  assert.equal(parseLvs(fixture('lvm/lvs-open.json'))[0]!.open, true);
  assert.deepEqual(parseLvs(fixture('lvm/lvs-partial.json')).map((r) => r.name), ['pvc-thin1']);
});

test('vgs', () => {
  assert.deepEqual(parseVgs(fixture('lvm/vgs.json')), [{ name: 'fixvg', sizeBytes: 2139095040, freeBytes: 1656750080, extentBytes: 4194304, pvCount: 2, lvCount: 9 }]);
  assert.throws(() => parseLvs('not json'), /not JSON/);
  assert.equal(parseLvTime('garbage'), undefined);
});

const failure = (name: string, program = 'lvcreate') => new ExecError(program, [], 5, fixture(`lvm/${name}.stderr`), '', 'exit');

test('real LVM error messages map to storage error kinds', () => {
  const cases: Array<[string, string]> = [
    ['create-exists', 'exists'],
    ['create-nospace', 'exhausted'],
    ['create-raid-nospace', 'exhausted'],
    ['create-thin-full', 'exhausted'],
    ['create-nostripes', 'invalid'],
    ['create-reserved', 'invalid'],
    ['create-novg', 'unavailable'],
    ['create-nopool', 'unavailable'],
    ['lvs-missing', 'not-found'],
    ['remove-missing', 'not-found'],
    ['remove-inuse', 'precondition'],
    ['extend-origin', 'precondition'],
  ];
  for (const [name, kind] of cases) assert.equal(lvmErrorKind(failure(name)), kind, name);
  assert.equal(lvmErrorKind(new ExecError('lvs', [], undefined, '', '', 'not-found')), 'unavailable');
  const e = lvmError(failure('create-nospace'), 'creating LV vg/x');
  assert.ok(e instanceof StorageError);
  assert.match(e.message, /^creating LV vg\/x: lvcreate failed: Volume group "fixvg" has insufficient free space/);
  const other = new Error('x');
  assert.equal(lvmError(other, 'y'), other);
});

test('volume condition: healthy, degraded raid leg, full thin pool, missing, inactive', () => {
  assert.equal(lvCondition('fixvg/pvc-thin1', lv('pvc-thin1'), lv('thin')).abnormal, false);
  const raid = parseLvs(fixture('lvm/lvs-raid-degraded.json'))[0]!;
  const c1 = lvCondition('fixvg/pvc-raid', raid);
  assert.ok(c1.abnormal);
  assert.match(c1.message, /raid leg failed/);
  const [filler, tiny] = parseLvs(fixture('lvm/lvs-thin-full.json'));
  const c2 = lvCondition('fixvg/filler', filler, tiny);
  assert.ok(c2.abnormal);
  assert.match(c2.message, /out of data space/);
  assert.match(c2.message, /is full \(data 100\.00%\)/);
  assert.match(lvCondition('fixvg/gone', undefined).message, /missing/);
  assert.match(lvCondition('fixvg/s', lv('snap.snapshot-1')).message, /not active/);
  const nearly = { ...lv('thin'), dataPercent: 96.5 };
  assert.match(lvCondition('fixvg/pvc-thin1', lv('pvc-thin1'), nearly).message, /nearly full/);
});
