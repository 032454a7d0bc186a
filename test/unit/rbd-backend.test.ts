// The rbd backend's logic against FakeRbd (an in-memory pool behind the real argv): command
// construction, no key in argv, idempotency, tombstones, trash and purge, flatten past the limit.
// The same behaviour against real Ceph + krbd is in test/lab/rbd-*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RbdBackend, imageFeatures, imageSize } from '../../src/backends/rbd/backend.js';
import { connectionArgs } from '../../src/backends/rbd/cli.js';
import { FLATTEN_KEY, STATE_KEY } from '../../src/backends/rbd/state.js';
import type { CreateSpec } from '../../src/backends/types.js';
import { ExecError } from '../../src/exec/errors.js';
import type { RunOptions, RunResult } from '../../src/exec/index.js';
import { waitFor } from '../../src/exec/wait.js';
import { CALL, FakeRbd, KEY, rbdPool } from './rbd-helpers.js';

const MiB = 1024 * 1024;
const spec = (name: string, extra: Partial<CreateSpec> = {}): CreateSpec => ({
  name, requestName: name, sizeBytes: 64 * MiB, limitBytes: 0, mode: 'filesystem', params: {}, ...extra,
});

function setup(pool: Record<string, unknown> = {}) {
  const fake = new FakeRbd();
  return { fake, b: new RbdBackend(rbdPool(pool), fake, 'node-a') };
}

test('connection arguments: monitors, user, key FILE, no ceph.conf, bounded waits', () => {
  const args = connectionArgs({ monhost: ['10.0.0.1', '10.0.0.2:6789'], user: 'csi', keyfile: '/tmp/k/key', timeoutSeconds: 10 });
  assert.deepEqual(args, [
    '--conf', '/dev/null', '-m', '10.0.0.1,10.0.0.2:6789', '--id', 'csi', '--keyfile', '/tmp/k/key',
    '--client-mount-timeout', '10', '--rados-mon-op-timeout', '30', '--rados-osd-op-timeout', '60',
  ]);
});

test('a new volume is one rbd create plus its state; the key never reaches argv', async () => {
  const { fake, b } = setup();
  const rec = await b.createVolume(spec('pvc-1', { pvc: { namespace: 'apps', name: 'data' }, params: { fsType: 'xfs' } }), CALL);
  // (plus, once per process, the background scan for owed flattens: rbd ls)
  assert.deepEqual(fake.commands().filter((c) => c !== 'rbd ls'), ['rbd create', 'rbd image-meta set']);
  const create = fake.runs[0]!.args;
  assert.deepEqual(create.slice(create.indexOf('create')), ['create', 'kube/pvc-1', '--size', `${64 * MiB}B`, '--image-feature', 'layering,exclusive-lock,object-map,fast-diff,deep-flatten']);
  assert.ok(fake.runs.every((r) => !r.args.join(' ').includes(KEY)));
  const state = JSON.parse(fake.byName('pvc-1')!.meta.get(STATE_KEY)!);
  assert.equal(state.complete, true);
  assert.deepEqual(state.pvc, { namespace: 'apps', name: 'data' });
  assert.equal(state.request, 'pvc-1');
  assert.equal(rec.sizeBytes, 64 * MiB);
  assert.equal(rec.params.fsType, 'xfs');
});

test('create is idempotent; the same name with another size is ALREADY_EXISTS', async () => {
  const { b } = setup();
  const first = await b.createVolume(spec('pvc-1'), CALL);
  assert.deepEqual(await b.createVolume(spec('pvc-1'), CALL), first);
  await assert.rejects(b.createVolume(spec('pvc-1', { sizeBytes: 128 * MiB }), CALL), { kind: 'exists' });
});

test('a create cut short (image without state) is finished by the retry', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('pvc-1'), CALL);
  fake.byName('pvc-1')!.meta.clear(); // crash between create and state
  assert.equal(await b.getVolume('pvc-1', CALL), undefined, 'a half-made volume does not exist yet');
  const rec = await b.createVolume(spec('pvc-1'), CALL);
  assert.equal(rec.complete, true);
  assert.ok(fake.byName('pvc-1')!.meta.has(STATE_KEY));
});

test('a volume clone cut short after the clone: the retry drops the clone snapshot and records the state', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('src'), CALL);
  await b.createVolume(spec('c1', { source: { kind: 'volume', volume: 'src' } }), CALL);
  // Rewind to "cloned, nothing after": the clone snapshot still a user snapshot, no state.
  const snap = fake.byName('src')!.snaps[0]!;
  snap.ns = 'user';
  snap.name = '_poolcsi-clone-c1';
  fake.byName('c1')!.meta.clear();
  const rec = await b.createVolume(spec('c1', { source: { kind: 'volume', volume: 'src' } }), CALL);
  assert.equal(rec.complete, true);
  assert.deepEqual(fake.byName('src')!.snaps.map((s) => s.ns), ['trash'], 'the clone snapshot went to the snapshot trash');
  await assert.rejects(b.createVolume(spec('c1', { source: { kind: 'snapshot', volume: 'src', snapshot: 'x' } }), CALL), { kind: 'exists' });
});

test('sizes: whole MiB, or whole sectors when the limit demands', () => {
  assert.equal(imageSize(1, 0), MiB);
  assert.equal(imageSize(MiB + 1, 0), 2 * MiB);
  assert.equal(imageSize(1000, 1024), 1024);
  assert.throws(() => imageSize(1000, 1000), { kind: 'out-of-range' });
});

test('imageFeatures from a StorageClass are checked', () => {
  assert.deepEqual(imageFeatures('layering', ['layering', 'exclusive-lock']), ['layering']);
  assert.throws(() => imageFeatures('layering,journaling', []), /journaling not supported/);
  assert.throws(() => imageFeatures('exclusive-lock', []), /must include layering/);
  assert.throws(() => imageFeatures('layering,object-map', []), /object-map needs exclusive-lock/);
});

test('a restore cut short after the clone carries its parent\'s metadata: the retry does not take it for its own', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('vol'), CALL);
  await b.createSnapshot('vol', 'snap-1', 'a-request-name-that-is-long-enough-to-be-shortened-'.repeat(3), CALL);
  fake.byName('vol')!.meta.set('poolcsi.io/flatten', 'pending');
  const restore = spec('restored', { source: { kind: 'snapshot', volume: 'vol', snapshot: 'snap-1' } });
  await b.createVolume(restore, CALL);
  // Rewind to "cloned, nothing after": what librbd copied from the parent, nothing of its own.
  fake.byName('restored')!.meta = new Map(fake.byName('vol')!.meta);
  assert.equal(await b.getVolume('restored', CALL), undefined, 'the parent\'s state is not the clone\'s');
  assert.deepEqual((await b.listVolumes(CALL)).map((v) => v.name), ['vol'], 'nor is it listed as a volume');
  const rec = await b.createVolume(restore, CALL);
  assert.equal(rec.complete, true);
  assert.equal(rec.requestName, 'restored');
  assert.deepEqual([...fake.byName('restored')!.meta.keys()], [STATE_KEY], 'the parent\'s snapshot names and flatten debt are gone');
});

test('restore from a snapshot and clone a volume are clone v2 children; the clone snapshot is dropped', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('vol'), CALL);
  await b.createSnapshot('vol', 'snap-1', 'snap-1', CALL);
  await b.createVolume(spec('restored', { source: { kind: 'snapshot', volume: 'vol', snapshot: 'snap-1' }, sizeBytes: 128 * MiB }), CALL);
  const clone = fake.runs.find((r) => r.args.includes('clone'))!.args;
  assert.deepEqual(clone.slice(clone.indexOf('clone'), clone.indexOf('clone') + 5), ['clone', '--rbd-default-clone-format', '2', 'kube/vol@snap-1', 'kube/restored']);
  assert.equal(fake.byName('restored')!.size, 128 * MiB, 'grown to the requested size');
  await b.createVolume(spec('cloned', { source: { kind: 'volume', volume: 'vol' } }), CALL);
  const snaps = fake.byName('vol')!.snaps;
  assert.deepEqual(snaps.map((s) => [s.name.startsWith('trash-') ? 'trash' : s.name, s.ns]), [['snap-1', 'user'], ['trash', 'trash']],
    'the clone snapshot waits in the trash namespace for its child');
  assert.deepEqual((await b.listSnapshots(CALL)).map((s) => s.name), ['snap-1'], 'poolcsi snapshots are not CSI snapshots');
  await assert.rejects(b.createVolume(spec('small', { source: { kind: 'snapshot', volume: 'vol', snapshot: 'snap-1' }, sizeBytes: MiB, limitBytes: MiB }), CALL), { kind: 'out-of-range' });
  await assert.rejects(b.createVolume(spec('nosrc', { source: { kind: 'snapshot', volume: 'vol', snapshot: 'nope' } }), CALL), { kind: 'not-found' });
});

test('deleting a volume with CSI snapshots keeps a hidden tombstone until the last snapshot goes', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('vol'), CALL);
  await b.createSnapshot('vol', 'snap-1', 'snap-1', CALL);
  await b.deleteVolume('vol', CALL);
  assert.equal(await b.getVolume('vol', CALL), undefined);
  assert.deepEqual((await b.listVolumes(CALL)).map((v) => v.name), []);
  assert.ok(await b.getSnapshot('vol', 'snap-1', CALL), 'the snapshot lives on');
  await b.deleteVolume('vol', CALL); // idempotent
  await b.createVolume(spec('restored', { source: { kind: 'snapshot', volume: 'vol', snapshot: 'snap-1' } }), CALL);
  await b.deleteSnapshot('vol', 'snap-1', CALL);
  assert.equal(fake.byName('vol'), undefined);
  assert.deepEqual(fake.trash.map((i) => i.name), ['vol'], 'the clone still reads it: in the trash');
  await b.deleteVolume('restored', CALL);
  assert.deepEqual(fake.trash, [], 'purged with its last clone');
  assert.equal(fake.images.size, 0);
});

test('deleting a parent with live clones: trash, then purge when the last clone goes (whole chain)', async () => {
  const { fake, b } = setup({ maxCloneDepth: 8 });
  await b.createVolume(spec('a'), CALL);
  await b.createVolume(spec('b', { source: { kind: 'volume', volume: 'a' } }), CALL);
  await b.createVolume(spec('c', { source: { kind: 'volume', volume: 'b' } }), CALL);
  await b.createVolume(spec('d', { source: { kind: 'volume', volume: 'a' } }), CALL);
  await b.deleteVolume('a', CALL);
  await b.deleteVolume('b', CALL);
  assert.deepEqual(fake.trash.map((i) => i.name).sort(), ['a', 'b']);
  await b.deleteVolume('c', CALL);
  assert.deepEqual(fake.trash.map((i) => i.name), ['a'], 'b purged; a still read by d');
  await b.deleteVolume('d', CALL);
  assert.deepEqual(fake.trash, []);
});

test('a leftover in the trash (crash before the purge) is swept by a retried delete', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('a'), CALL);
  await b.createVolume(spec('b', { source: { kind: 'volume', volume: 'a' } }), CALL);
  await b.deleteVolume('a', CALL);
  // "crash": b removed by hand, the parent not purged
  const child = fake.byName('b')!;
  const parent = fake.trash[0]!;
  parent.snaps = [];
  delete child.parent;
  fake.images.delete(child.id);
  await b.deleteVolume('b', CALL);
  assert.deepEqual(fake.trash, []);
});

test('clones deeper than maxCloneDepth are flattened in the background, the debt recorded first', async () => {
  const { fake, b } = setup({ maxCloneDepth: 2 });
  await b.createVolume(spec('v0'), CALL);
  await b.createVolume(spec('v1', { source: { kind: 'volume', volume: 'v0' } }), CALL);
  await b.createVolume(spec('v2', { source: { kind: 'volume', volume: 'v1' } }), CALL);
  assert.ok(fake.byName('v2')!.parent, 'depth 2: kept as a clone');
  await b.createVolume(spec('v3', { source: { kind: 'volume', volume: 'v2' } }), CALL);
  const i = fake.commands().indexOf('rbd flatten');
  assert.ok(i > 0, 'flattened');
  assert.ok(fake.commands().slice(0, i).includes('rbd image-meta set'));
  await b.idle();
  assert.equal(fake.byName('v3')!.parent, undefined);
  assert.equal(fake.byName('v3')!.meta.has(FLATTEN_KEY), false, 'debt cleared');
});

test('an owed flatten left by an earlier process is resumed on the first controller call', async () => {
  const fake = new FakeRbd();
  const first = new RbdBackend(rbdPool({ maxCloneDepth: 8 }), fake, 'node-a');
  await first.createVolume(spec('v0'), CALL);
  await first.createVolume(spec('v1', { source: { kind: 'volume', volume: 'v0' } }), CALL);
  fake.byName('v1')!.meta.set(FLATTEN_KEY, 'pending'); // the process died mid-flatten
  const second = new RbdBackend(rbdPool({ maxCloneDepth: 8 }), fake, 'node-a');
  await second.listVolumes(CALL);
  await waitFor(() => fake.byName('v1')!.parent === undefined || undefined, { timeoutMs: 5000, what: 'the resumed flatten' });
  await second.idle();
  assert.equal(fake.byName('v1')!.parent, undefined);
  assert.equal(fake.byName('v1')!.meta.has(FLATTEN_KEY), false);
});

test('snapshots: idempotent, shortened names keep their request name, listing is cached', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('vol'), CALL);
  const s = await b.createSnapshot('vol', 'snap-abc-0123456789abcdef', 'a-very-long-request-name', CALL);
  assert.equal(s.ready, true);
  assert.equal(s.createdAt, '2026-11-21T06:08:18.000Z');
  await b.createSnapshot('vol', 'snap-abc-0123456789abcdef', 'a-very-long-request-name', CALL);
  assert.equal(fake.byName('vol')!.snaps.length, 1);
  const list = await b.listSnapshots(CALL);
  assert.equal(list[0]!.requestName, 'a-very-long-request-name');
  const before = fake.runs.length;
  await b.listSnapshots(CALL);
  assert.equal(fake.runs.length - before, 1, 'the second listing is one rbd ls -l');
  await b.deleteSnapshot('vol', 'snap-abc-0123456789abcdef', CALL);
  await b.deleteSnapshot('vol', 'snap-abc-0123456789abcdef', CALL);
  assert.deepEqual(await b.listSnapshots(CALL), []);
});

test('expand grows, never shrinks; capacity from ceph df', async () => {
  const { b } = setup();
  await b.createVolume(spec('vol'), CALL);
  assert.equal((await b.expandVolume('vol', 100 * MiB, 0, CALL)).sizeBytes, 100 * MiB);
  assert.equal((await b.expandVolume('vol', 10 * MiB, 0, CALL)).sizeBytes, 100 * MiB);
  await assert.rejects(b.expandVolume('nope', 100 * MiB, 0, CALL), { kind: 'not-found' });
  const cap = await b.capacity(CALL);
  assert.ok(cap.availableBytes > 1e9);
});

test('publish is recorded on the image; the same node read-only then read-write conflicts', async () => {
  const { fake, b } = setup();
  await b.createVolume(spec('vol', { mode: 'block' }), CALL);
  await b.publish('vol', 'n1', { readonly: false, multiNode: true }, CALL);
  await b.publish('vol', 'n2', { readonly: false, multiNode: true }, CALL);
  const sets = fake.commands().filter((c) => c === 'rbd image-meta set').length;
  await b.publish('vol', 'n2', { readonly: false, multiNode: true }, CALL);
  assert.equal(fake.commands().filter((c) => c === 'rbd image-meta set').length, sets, 'an unchanged publish writes nothing');
  await assert.rejects(b.publish('vol', 'n1', { readonly: true, multiNode: true }, CALL), { kind: 'exists' });
  await b.unpublish('vol', 'n1', CALL);
  assert.deepEqual(Object.keys(JSON.parse(fake.byName('vol')!.meta.get(STATE_KEY)!).published), ['n2']);
});

test('credentials refused by Ceph surface as denied, no credentials at all as denied', async () => {
  const { fake, b } = setup();
  fake.failWith = new ExecError('rbd', [], 13, 'rbd: couldn\'t connect to the cluster!\nrbd: listing images failed: (13) Permission denied\n', '', 'exit');
  await assert.rejects(b.createVolume(spec('vol'), CALL), { kind: 'denied', message: /Ceph refused client\.admin/ });
  await assert.rejects(b.getVolume('vol', {}), { kind: 'denied', message: /no CSI secrets/ });
});

test('issue 10 item 4: the last two snapshots of a deleted volume, deleted at once, take its hidden image with them', async () => {
  // The race made certain: every `snap rm` waits until both deletes have listed the snapshots.
  class ListsFirst extends FakeRbd {
    lists = 0;
    private ready!: () => void;
    private readonly bothListed = new Promise<void>((r) => { this.ready = r; });
    armed = false;
    override async run(program: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
      if (this.armed && args.includes('snap') && args.includes('ls') && ++this.lists === 2) this.ready();
      if (this.armed && args.includes('snap') && args.includes('rm')) await this.bothListed;
      return super.run(program, args, opts);
    }
  }
  const fake = new ListsFirst();
  const b = new RbdBackend(rbdPool(), fake, 'node-a');
  await b.createVolume(spec('vol'), CALL);
  await b.createSnapshot('vol', 'snap-1', 'snap-1', CALL);
  await b.createSnapshot('vol', 'snap-2', 'snap-2', CALL);
  await b.deleteVolume('vol', CALL);
  assert.ok(fake.byName('vol'), 'kept, hidden, for its snapshots');
  // Both read the image before either removed its snapshot: each must still see the other's go.
  fake.armed = true;
  await Promise.all([b.deleteSnapshot('vol', 'snap-1', CALL), b.deleteSnapshot('vol', 'snap-2', CALL)]);
  assert.equal(fake.byName('vol'), undefined, 'the hidden image is gone');
  assert.deepEqual(fake.trash, []);
  assert.equal(fake.images.size, 0);
});
