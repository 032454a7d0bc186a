import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lvmSize, thickCapacity, thinBudget, thinCapacity, thinPhysicalRefusal, thinPoolState } from '../../src/backends/lvm/capacity.js';
import type { LvRow } from '../../src/backends/lvm/report.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('sizes round up to whole extents, and to whole extents per stripe', () => {
  assert.equal(lvmSize(100 * MiB, 4 * MiB), 100 * MiB);
  assert.equal(lvmSize(100 * MiB + 1, 4 * MiB), 104 * MiB);
  assert.equal(lvmSize(100 * MiB, 4 * MiB, 2), 104 * MiB);
  assert.equal(lvmSize(0, 4 * MiB), 4 * MiB);
});

test('thick: a raid1 volume takes (mirror+1) times its size', () => {
  const vg = { name: 'vg', sizeBytes: 20 * GiB, freeBytes: 10 * GiB, extentBytes: 4 * MiB, pvCount: 2, lvCount: 0 };
  assert.equal(thickCapacity(vg).maxVolumeBytes, 10 * GiB);
  const c = thickCapacity(vg, 1);
  assert.equal(c.availableBytes, 10 * GiB);
  assert.equal(c.maxVolumeBytes, 5 * GiB);
});

const row = (name: string, sizeBytes: number, extra: Partial<LvRow> = {}): LvRow => ({
  name, vg: 'vg', sizeBytes, tags: '', attr: 'Vwi-a-tz--', pool: 'thin', origin: '', originSizeBytes: 0, dmPath: '', major: 254, minor: 1,
  health: '', active: true, segtype: 'thin', snapshotInvalid: false, open: false, extentBytes: 4 * MiB, ...extra,
});

test('thin: the virtual budget counts volumes, not snapshots, and honours overprovision', () => {
  const rows = [
    row('thin', 10 * GiB, { pool: '', segtype: 'thin-pool', attr: 'twi-aotz--', dataPercent: 30, metadataPercent: 5 }),
    row('v1', 8 * GiB),
    row('v2', 8 * GiB),
    row('snap.s1', 8 * GiB, { tags: 'poolcsi.io/snap=s1' }),
    row('other', 1 * GiB, { pool: 'otherpool' }),
  ];
  const s = thinPoolState(rows, 'thin', (r) => r.tags.includes('poolcsi.io/snap='))!;
  assert.equal(s.virtualBytes, 16 * GiB);
  assert.equal(thinBudget(s, { overprovision: 1 }), 0);
  assert.equal(thinBudget(s, { overprovision: 2 }), 4 * GiB);
  const c = thinCapacity(s, { overprovision: 3 });
  assert.equal(c.totalBytes, 30 * GiB);
  assert.equal(c.availableBytes, 14 * GiB);
  assert.equal(thinPoolState(rows, 'nosuch', () => false), undefined);
});

test('thin: above dataPercentLimit, or full, nothing is available', () => {
  const s = { poolSizeBytes: 10 * GiB, dataPercent: 85.5, metadataPercent: 3, virtualBytes: 0 };
  assert.equal(thinPhysicalRefusal(s, { overprovision: 2, dataPercentLimit: 90 }), undefined);
  assert.match(thinPhysicalRefusal(s, { overprovision: 2, dataPercentLimit: 80 })!, /85\.50% used.*dataPercentLimit of 80%/);
  assert.equal(thinCapacity(s, { overprovision: 2, dataPercentLimit: 80 }).availableBytes, 0);
  assert.match(thinPhysicalRefusal({ ...s, dataPercent: 100 }, { overprovision: 2 })!, /full/);
  assert.match(thinPhysicalRefusal({ ...s, metadataPercent: 100 }, { overprovision: 2 })!, /metadata/);
});
