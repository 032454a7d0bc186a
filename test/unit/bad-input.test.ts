// Bad input gets the right gRPC code and a message a person understands (issue 2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { BLOCK_CAP, MOUNT_CAP, rejectsWith, startPoolcsi, type Harness } from './helpers.js';

let h: Harness;
before(async () => { h = await startPoolcsi(); });
after(async () => { await h.stop(); });

const create = (over: object) => h.controller('CreateVolume', { name: 'pvc-1', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local' }, ...over });

test('a malformed volume id is NOT_FOUND for lookups and ignored by DeleteVolume', async () => {
  const msg = await rejectsWith(h.controller('ValidateVolumeCapabilities', { volume_id: 'no-colon-here', volume_capabilities: [MOUNT_CAP] }), status.NOT_FOUND);
  assert.match(msg, /malformed/);
  await rejectsWith(h.controller('ValidateVolumeCapabilities', { volume_id: 'local:../../etc', volume_capabilities: [MOUNT_CAP] }), status.NOT_FOUND);
  await h.controller('DeleteVolume', { volume_id: 'not an id' });
});

test('an unknown pool is INVALID_ARGUMENT and lists the pools', async () => {
  const msg = await rejectsWith(create({ parameters: { pool: 'nope' } }), status.INVALID_ARGUMENT);
  assert.match(msg, /unknown pool "nope" \(pools: local\)/);
});

test('a missing pool parameter is INVALID_ARGUMENT', async () => {
  const msg = await rejectsWith(create({ parameters: {} }), status.INVALID_ARGUMENT);
  assert.match(msg, /"pool" is required/);
});

test('an unknown StorageClass parameter is INVALID_ARGUMENT and names it', async () => {
  const msg = await rejectsWith(create({ parameters: { pool: 'local', thinn: 'yes' } }), status.INVALID_ARGUMENT);
  assert.match(msg, /unknown parameter\(s\) "thinn" for pool "local" \(type dir\)/);
});

test('fsType does not apply to a dir pool', async () => {
  const msg = await rejectsWith(create({ parameters: { pool: 'local', fsType: 'xfs' } }), status.INVALID_ARGUMENT);
  assert.match(msg, /"fsType"/);
});

test('".." or "/" in a name is INVALID_ARGUMENT', async () => {
  assert.match(await rejectsWith(create({ name: '../etc' }), status.INVALID_ARGUMENT), /"\/", "\.\."/);
  assert.match(await rejectsWith(create({ name: 'a/b' }), status.INVALID_ARGUMENT), /"\/"/);
  assert.match(await rejectsWith(create({ name: 'a..b' }), status.INVALID_ARGUMENT), /"\.\."/);
});

test('a missing capability is INVALID_ARGUMENT', async () => {
  assert.match(await rejectsWith(create({ volume_capabilities: [] }), status.INVALID_ARGUMENT), /volume_capabilities is required/);
  assert.match(await rejectsWith(create({ volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }), status.INVALID_ARGUMENT), /access type/);
});

test('block access on a dir pool is INVALID_ARGUMENT with the reason', async () => {
  const msg = await rejectsWith(create({ volume_capabilities: [BLOCK_CAP] }), status.INVALID_ARGUMENT);
  assert.match(msg, /serves filesystem volumes, not block/);
});

test('multi-node access on a node-local pool is INVALID_ARGUMENT', async () => {
  const cap = { ...MOUNT_CAP, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
  assert.match(await rejectsWith(create({ volume_capabilities: [cap] }), status.INVALID_ARGUMENT), /node-local/);
});

test('a size the pool cannot give is RESOURCE_EXHAUSTED; an impossible range is OUT_OF_RANGE', async () => {
  const huge = String(2 ** 52);
  assert.match(await rejectsWith(create({ name: 'pvc-huge', capacity_range: { required_bytes: huge } }), status.RESOURCE_EXHAUSTED), /bytes free/);
  assert.match(await rejectsWith(create({ name: 'pvc-range', capacity_range: { required_bytes: '2000', limit_bytes: '1000' } }), status.OUT_OF_RANGE), /below required/);
});

test('same name with a different size is ALREADY_EXISTS; same request is idempotent', async () => {
  const a = await create({ name: 'pvc-idem', capacity_range: { required_bytes: '1048576' } });
  const b = await create({ name: 'pvc-idem', capacity_range: { required_bytes: '1048576' } });
  assert.equal(a.volume.volume_id, 'local:pvc-idem');
  assert.deepEqual(b.volume, a.volume);
  assert.match(await rejectsWith(create({ name: 'pvc-idem', capacity_range: { required_bytes: String(2 * 1048576) } }), status.ALREADY_EXISTS), /already exists/);
  await h.controller('DeleteVolume', { volume_id: a.volume.volume_id });
});

test('a clone source in another pool or a missing source is refused clearly', async () => {
  const msg = await rejectsWith(create({ name: 'pvc-c', volume_content_source: { volume: { volume_id: 'other:pvc-x' } } }), status.INVALID_ARGUMENT);
  assert.match(msg, /same pool/);
  await rejectsWith(create({ name: 'pvc-c', volume_content_source: { snapshot: { snapshot_id: 'local:pvc-x@snap-1' } } }), status.NOT_FOUND);
});

test('a long request name becomes a hashed backend name and the id stays within 128 bytes', async () => {
  const name = 'x'.repeat(128);
  const r = await create({ name });
  assert.ok(Buffer.byteLength(r.volume.volume_id) <= 128);
  assert.match(r.volume.volume_id, /^local:x+-[0-9a-f]{16}$/);
  const again = await create({ name });
  assert.equal(again.volume.volume_id, r.volume.volume_id);
  await h.controller('DeleteVolume', { volume_id: r.volume.volume_id });
});

test('node calls validate paths before any mount', async () => {
  const v = await create({ name: 'pvc-path' });
  const id = v.volume.volume_id;
  assert.match(await rejectsWith(h.node('NodeStageVolume', { volume_id: id, staging_target_path: 'relative/dir', volume_capability: MOUNT_CAP }), status.INVALID_ARGUMENT), /absolute/);
  assert.match(await rejectsWith(h.node('NodePublishVolume', { volume_id: id, staging_target_path: '/tmp/s', target_path: '/tmp/../etc', volume_capability: MOUNT_CAP }), status.INVALID_ARGUMENT), /"\.\."/);
  await h.controller('DeleteVolume', { volume_id: id });
});

test('Probe is ready once pools are loaded; plugin info names the driver', async () => {
  const p = await h.identity('Probe', {});
  assert.equal(p.ready.value, true);
  const info = await h.identity('GetPluginInfo', {});
  assert.equal(info.name, 'poolcsi.io');
  assert.match(info.vendor_version, /^\d+\.\d+\.\d+/);
});
