// Issue 10 item 16: the PVC/PV and VolumeSnapshot metadata the sidecars add are Kubernetes names
// or nothing; what is already stored is printed with its control characters escaped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { checkSnapshotParams, resolveParams } from '../../src/csi/params.js';
import { formatVolumes } from '../../src/cli/volumes.js';
import { printable, printableJson } from '../../src/cli/format.js';
import type { VolumeRecord } from '../../src/backends/types.js';
import { parsePools } from '../../src/pools/validate.js';
import { MOUNT_CAP, rejectsWith, startPoolcsi, type Harness } from './helpers.js';

const PVC = 'csi.storage.k8s.io/pvc/name';
const NS = 'csi.storage.k8s.io/pvc/namespace';
const PV = 'csi.storage.k8s.io/pv/name';
const pool = () => parsePools('pools:\n  - {id: local, type: dir, path: /srv/x}\n').pools[0]!;

test('PVC, namespace and PV names are checked as Kubernetes names', () => {
  const ok = resolveParams(pool(), { pool: 'local', [PVC]: 'data-db-0', [NS]: 'team-a', [PV]: 'pvc-0f3e.x' });
  assert.deepEqual(ok.pvc, { namespace: 'team-a', name: 'data-db-0', pvName: 'pvc-0f3e.x' });
  const bad: Array<[string, string, RegExp]> = [
    [PVC, 'x'.repeat(5 * 1024 * 1024), /pvc\/name: "x{64}"… \(5242880 characters\) is not a Kubernetes name/],
    [PVC, 'evil\u001b]0;pwned\u0007', /pvc\/name: "evil\\u001b\]0;pwned\\u0007" is not a Kubernetes name/],
    [PVC, 'UPPER', /not a Kubernetes name \(DNS-1123 subdomain, at most 253/],
    [PVC, '', /not a Kubernetes name/],
    [NS, 'has.dot', /not a Kubernetes namespace \(DNS-1123 label, at most 63/],
    [NS, 'n'.repeat(64), /namespace/],
    [PV, '-leading', /pv\/name/],
  ];
  for (const [k, v, re] of bad) {
    assert.throws(() => resolveParams(pool(), { pool: 'local', [PVC]: 'ok', [NS]: 'ok', [k]: v }), (e: Error) => re.test(e.message), `${k}=${v.slice(0, 20)}`);
  }
});

test('CreateSnapshot takes the snapshotter\'s --extra-create-metadata, checked the same way', () => {
  checkSnapshotParams({
    'csi.storage.k8s.io/volumesnapshot/name': 'snap-1',
    'csi.storage.k8s.io/volumesnapshot/namespace': 'team-a',
    'csi.storage.k8s.io/volumesnapshotcontent/name': 'snapcontent-6c1e0d8a-3d5e-4f59-9f0e-2b6f7e1e8a21',
  });
  checkSnapshotParams(undefined);
  assert.throws(() => checkSnapshotParams({ 'csi.storage.k8s.io/volumesnapshot/namespace': 'Bad_NS' }), /volumesnapshot\/namespace: "Bad_NS" is not a Kubernetes namespace/);
  assert.throws(() => checkSnapshotParams({ 'csi.storage.k8s.io/volumesnapshot/name': 'a\nb' }), /not a Kubernetes name/);
  assert.throws(() => checkSnapshotParams({ colour: 'red' }), /unknown snapshot parameter\(s\) "colour"/);
});

let h: Harness;
before(async () => { h = await startPoolcsi(); });
after(async () => { await h.stop(); });

test('over gRPC: a hostile PVC name is INVALID_ARGUMENT; a snapshot with the metadata is made', async () => {
  await rejectsWith(h.controller('CreateVolume', { name: 'pvc-m', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local', [PVC]: 'a\u001b[2J', [NS]: 'ns' } }), status.INVALID_ARGUMENT);
  const v = await h.controller('CreateVolume', { name: 'pvc-m', volume_capabilities: [MOUNT_CAP], capacity_range: { required_bytes: '1048576' }, parameters: { pool: 'local', [PVC]: 'data', [NS]: 'ns' } });
  const s = await h.controller('CreateSnapshot', {
    name: 'snapshot-m', source_volume_id: v.volume.volume_id,
    parameters: { 'csi.storage.k8s.io/volumesnapshot/name': 'snap-m', 'csi.storage.k8s.io/volumesnapshot/namespace': 'ns', 'csi.storage.k8s.io/volumesnapshotcontent/name': 'snapcontent-1' },
  });
  assert.equal(s.snapshot.source_volume_id, v.volume.volume_id);
  await h.controller('DeleteSnapshot', { snapshot_id: s.snapshot.snapshot_id });
  await h.controller('DeleteVolume', { volume_id: v.volume.volume_id });
});

test('volumes list escapes control characters already stored (table and JSON)', () => {
  const rec = { name: 'pvc-x', sizeBytes: 1024, mode: 'filesystem', params: {}, pvc: { namespace: 'ns\u001b[31m', name: 'evil\u001b]0;title\u0007\u009b2J' }, createdAt: '2026-01-01T00:00:00Z' } as unknown as VolumeRecord;
  const out = formatVolumes([rec], []);
  assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.match(out, /ns\\x1b\[31m\/evil\\x1b\]0;title\\x07\\x9b2J/);
  assert.equal(printable('a\\b'), 'a\\\\b');
  const json = printableJson({ v: 'a\u001b\u009bz' });
  assert.doesNotMatch(json, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.deepEqual(JSON.parse(json), { v: 'a\u001b\u009bz' });
});
