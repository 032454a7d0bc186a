// The rbd pool type in the schema and the StorageClass parameter check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePools, PoolsError } from '../../src/pools/validate.js';
import { resolveParams } from '../../src/csi/params.js';
import { traitsOf } from '../../src/backends/index.js';

const problems = (yaml: string): string[] => {
  try { parsePools(yaml); return []; } catch (e) { return (e as PoolsError).problems; }
};

test('an rbd pool with defaults (docs/design.md §1 example)', () => {
  const [p] = parsePools('pools:\n  - id: ceph\n    type: rbd\n    monhost: [10.1.1.20, 10.1.1.21]\n    pool: kube\n    secretRef: {name: ceph-client, namespace: storage}\n').pools;
  assert.equal(p!.type, 'rbd');
  if (p?.type !== 'rbd') return;
  assert.deepEqual(p.imageFeatures, ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten']);
  assert.equal(p.user, 'admin');
  assert.equal(p.maxCloneDepth, 4);
  assert.equal(p.udev, 'auto');
  assert.equal(p.timeoutSeconds, 10);
});

test('rbd pool mistakes are named', () => {
  assert.match(problems('pools:\n  - {id: c, type: rbd, pool: kube}\n')[0]!, /pool "c" field monhost/);
  assert.match(problems('pools:\n  - {id: c, type: rbd, monhost: [a], pool: kube, imageFeatures: [layering, journaling]}\n')[0]!, /imageFeatures/);
  assert.match(problems('pools:\n  - {id: c, type: rbd, monhost: [a], pool: kube, imageFeatures: [exclusive-lock]}\n')[0]!, /must include layering/);
  assert.match(problems('pools:\n  - {id: c, type: rbd, monhost: [a], pool: kube, imageFeatures: [layering, object-map]}\n')[0]!, /object-map needs exclusive-lock/);
  assert.match(problems('pools:\n  - {id: c, type: rbd, monhost: ["a b"], pool: kube}\n')[0]!, /monitor/);
  assert.match(problems('pools:\n  - {id: c, type: rbd, monhost: [a], pool: kube, key: AQAA}\n')[0]!, /unknown key/, 'keys are never inlined');
});

test('rbd traits: RWX for block only; StorageClass parameters', () => {
  const t = traitsOf('rbd');
  assert.deepEqual(t.multiNode, { filesystem: false, block: true });
  assert.equal(t.local, false);
  const [p] = parsePools('pools:\n  - {id: ceph, type: rbd, monhost: [a], pool: kube}\n').pools;
  const r = resolveParams(p!, { pool: 'ceph', imageFeatures: 'layering', dataPool: 'ec', fsType: 'xfs', 'csi.storage.k8s.io/pvc/name': 'd', 'csi.storage.k8s.io/pvc/namespace': 'ns' });
  assert.deepEqual(r.params, { imageFeatures: 'layering', dataPool: 'ec', fsType: 'xfs' });
  assert.deepEqual(r.pvc, { namespace: 'ns', name: 'd' });
  assert.throws(() => resolveParams(p!, { pool: 'ceph', thin: 'true' }), /unknown parameter/);
});
