import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePools, PoolsError } from '../../src/pools/validate.js';
import { knownParams } from '../../src/csi/params.js';

test('lvm and lvmthin pools validate with their defaults', () => {
  const { pools } = parsePools(`
pools:
  - {id: fast, type: lvm, vgname: vg0, mirror: 1, stripes: 2}
  - {id: thin, type: lvmthin, vgname: vg0, thinpool: data, overprovision: 3, dataPercentLimit: 90, nodes: [w1]}
`);
  assert.equal(pools[0]!.type, 'lvm');
  assert.deepEqual(pools[0], { id: 'fast', type: 'lvm', vgname: 'vg0', mirror: 1, stripes: 2, snapshotSize: 25, saferemove: 'off', disable: false });
  assert.equal(pools[1]!.type === 'lvmthin' && pools[1]!.overprovision, 3);
  const { pools: [plain] } = parsePools('pools: [{id: t, type: lvmthin, vgname: vg0, thinpool: data}]');
  assert.equal(plain!.type === 'lvmthin' && plain!.overprovision, 1);
});

test('lvm pool errors name the pool and the field', () => {
  const bad = (yaml: string, re: RegExp) => assert.throws(() => parsePools(yaml), (e) => e instanceof PoolsError && re.test(e.message));
  bad('pools: [{id: a, type: lvm}]', /pool "a" field vgname/);
  bad('pools: [{id: a, type: lvm, vgname: "-vg"}]', /pool "a" field vgname/);
  bad('pools: [{id: a, type: lvmthin, vgname: vg}]', /pool "a" field thinpool/);
  bad('pools: [{id: a, type: lvmthin, vgname: vg, thinpool: t, saferemove: zero}]', /pool "a" field saferemove/);
  bad('pools: [{id: a, type: lvmthin, vgname: vg, thinpool: t, overprovision: 0}]', /pool "a" field overprovision/);
  bad('pools: [{id: a, type: lvm, vgname: vg, mirror: 7}]', /pool "a" field mirror/);
  bad('pools: [{id: a, type: lvm, vgname: vg, thinpool: t}]', /unknown key/);
});

test('StorageClass parameters: lvm takes layout keys, lvmthin none of them', () => {
  const { pools: [thick, thin] } = parsePools('pools: [{id: a, type: lvm, vgname: vg}, {id: b, type: lvmthin, vgname: vg, thinpool: t}]');
  assert.deepEqual(knownParams(thick!).sort(), ['fsType', 'mirror', 'mkfsOptions', 'mountOptions', 'stripeSize', 'stripes']);
  assert.deepEqual(knownParams(thin!).sort(), ['fsType', 'mkfsOptions', 'mountOptions']);
});
