import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveName, IdError, MAX_SNAPSHOT_NAME, MAX_VOLUME_NAME, parseSnapshotId, parseVolumeId, snapshotId, volumeId } from '../../src/pools/ids.js';

test('volume and snapshot ids round-trip', () => {
  assert.deepEqual(parseVolumeId('local-thin:pvc-0b1c'), { pool: 'local-thin', name: 'pvc-0b1c' });
  assert.deepEqual(parseSnapshotId('ceph:pvc-1@snapshot-2'), { pool: 'ceph', volume: 'pvc-1', name: 'snapshot-2' });
  assert.equal(volumeId({ pool: 'a', name: 'b' }), 'a:b');
  assert.equal(snapshotId({ pool: 'a', volume: 'b', name: 'c' }), 'a:b@c');
});

test('malformed ids are refused with the reason', () => {
  for (const bad of ['', 'nocolon', ':x', 'Pool:x', 'p:', 'p:../x', 'p:a/b', 'p:.hidden', 'p:a@b', 'p:a:b', `p:${'a'.repeat(49)}`]) {
    assert.throws(() => parseVolumeId(bad), IdError, bad);
  }
  assert.throws(() => parseSnapshotId('p:vol'), /expected <pool>:<volume>@<snapshot>/);
  assert.throws(() => parseSnapshotId('p:vol@'), IdError);
  assert.throws(() => parseVolumeId(`p:${'a'.repeat(200)}`), /longer than 128 bytes/);
});

test('request names map to backend names deterministically', () => {
  assert.equal(deriveName('pvc-0b1c2d3e-aaaa-bbbb-cccc-111122223333', MAX_VOLUME_NAME), 'pvc-0b1c2d3e-aaaa-bbbb-cccc-111122223333');
  const long = deriveName('sanity-' + 'x'.repeat(120), MAX_VOLUME_NAME);
  assert.equal(long.length <= MAX_VOLUME_NAME, true);
  assert.equal(deriveName('sanity-' + 'x'.repeat(120), MAX_VOLUME_NAME), long);
  assert.notEqual(deriveName('sanity-' + 'x'.repeat(120), MAX_VOLUME_NAME), deriveName('sanity-' + 'x'.repeat(121), MAX_VOLUME_NAME));
  assert.match(deriveName('has space', MAX_VOLUME_NAME), /^has-space-[0-9a-f]{16}$/);
  assert.throws(() => deriveName('a/b', MAX_VOLUME_NAME), /"\/"/);
  assert.throws(() => deriveName('..', MAX_VOLUME_NAME), /"\.\."/);
  assert.throws(() => deriveName('a\nb', MAX_VOLUME_NAME), /control/);
  assert.throws(() => deriveName('', MAX_VOLUME_NAME), /empty/);
});

test('the longest names still make a snapshot id within 128 bytes', () => {
  const id = snapshotId({ pool: 'p'.repeat(31), volume: 'v'.repeat(MAX_VOLUME_NAME), name: 's'.repeat(MAX_SNAPSHOT_NAME) });
  assert.ok(Buffer.byteLength(id) <= 128);
  assert.doesNotThrow(() => parseSnapshotId(id));
});
