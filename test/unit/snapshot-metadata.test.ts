// The chart runs csi-snapshotter with --extra-create-metadata, which adds the VolumeSnapshot's
// name and namespace and the VolumeSnapshotContent's name to every CreateSnapshot (found by the
// k8s lane: the driver refused them, so every VolumeSnapshot failed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { MOUNT_CAP, rejectsWith, startPoolcsi, type Harness } from './helpers.js';

let h: Harness;
let volumeId: string;
before(async () => {
  h = await startPoolcsi();
  const r = await h.controller('CreateVolume', { name: 'pvc-snapmeta', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local' } });
  volumeId = r.volume.volume_id;
});
after(async () => { await h.stop(); });

const META = {
  'csi.storage.k8s.io/volumesnapshot/name': 'snap-1',
  'csi.storage.k8s.io/volumesnapshot/namespace': 'default',
  'csi.storage.k8s.io/volumesnapshotcontent/name': 'snapcontent-0c4d8a4e-8f1e-4c3b-9d55-0d1f7a1b2c3d',
};

test('CreateSnapshot accepts the external-snapshotter metadata', async () => {
  const r = await h.controller('CreateSnapshot', { name: 'snapshot-meta-1', source_volume_id: volumeId, parameters: META });
  assert.equal(r.snapshot.source_volume_id, volumeId);
  assert.equal(r.snapshot.ready_to_use, true);
});

test('CreateSnapshot refuses metadata that is not a Kubernetes name, and unknown parameters', async () => {
  const bad = await rejectsWith(h.controller('CreateSnapshot', {
    name: 'snapshot-meta-2', source_volume_id: volumeId, parameters: { ...META, 'csi.storage.k8s.io/volumesnapshot/namespace': 'Not/A-Namespace' },
  }), status.INVALID_ARGUMENT);
  assert.match(bad, /volumesnapshot\/namespace/);
  const unknown = await rejectsWith(h.controller('CreateSnapshot', { name: 'snapshot-meta-3', source_volume_id: volumeId, parameters: { colour: 'blue' } }), status.INVALID_ARGUMENT);
  assert.match(unknown, /unknown snapshot parameter\(s\) "colour"/);
});
