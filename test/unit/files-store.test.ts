// The file store of an iscsi pool's `backing: {type: file}`, run with the real coreutils of
// this machine in a temporary directory (the storage host's programs, here local): sparse
// images, copies and reflinks, the state written last, crash leftovers, and the refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileStore } from '../../src/backends/files/store.js';
import { copyCmd, parseObject, parseStates } from '../../src/backends/files/commands.js';
import { StorageError } from '../../src/backends/errors.js';
import { local, type Runner } from '../../src/exec/index.js';
import type { CreateSpec } from '../../src/backends/types.js';

const MiB = 1024 * 1024;
const base = mkdtempSync(join(tmpdir(), 'poolcsi-files-'));
after(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
function store(snapshots: 'reflink' | 'copy' = 'copy', runner: Runner = local): { s: FileStore; root: string } {
  const path = join(base, `p${++n}`);
  mkdirSync(path);
  return { s: new FileStore({ id: 'files', path, snapshots }, runner), root: join(path, 'files') };
}

const spec = (name: string, sizeBytes: number, extra: Partial<CreateSpec> = {}): CreateSpec =>
  ({ name, requestName: `req-${name}`, sizeBytes, limitBytes: 0, mode: 'block', params: {}, ...extra });

const kind = (k: string) => (e: unknown) => e instanceof StorageError && e.kind === k;

/** Whether cp can reflink in `dir` (XFS with reflink, btrfs): the reflink cases depend on it. */
function canReflink(dir: string): boolean {
  writeFileSync(join(dir, 'probe'), 'x');
  const c = copyCmd(join(dir, 'probe'), join(dir, 'probe2'), 'reflink');
  try {
    return spawnSync(c.program, c.args).status === 0;
  } finally {
    rmSync(join(dir, 'probe'), { force: true });
    rmSync(join(dir, 'probe2'), { force: true });
  }
}

test('a volume is a sparse image with its state beside it; the same request again is the same volume, another one conflicts', async () => {
  const { s, root } = store();
  const v = await s.createVolume(spec('vol-1', 8 * MiB));
  const img = join(root, 'volumes', 'vol-1', 'disk.img');
  assert.equal(statSync(img).size, 8 * MiB);
  assert.ok(statSync(img).blocks * 512 < MiB, 'the image is sparse');
  assert.equal(JSON.parse(readFileSync(join(root, 'volumes', 'vol-1', 'state.json'), 'utf8')).requestName, 'req-vol-1');
  assert.deepEqual(await s.createVolume(spec('vol-1', 8 * MiB)), v);
  await assert.rejects(s.createVolume(spec('vol-1', 16 * MiB)), kind('exists'));
  assert.deepEqual((await s.listVolumes()).map((x) => x.name), ['vol-1']);
  assert.equal((await s.getVolume('vol-1'))?.sizeBytes, 8 * MiB);
  assert.equal(await s.getVolume('vol-2'), undefined);
  const cap = await s.capacity();
  assert.ok(cap.totalBytes > 0 && cap.availableBytes > 0 && cap.availableBytes <= cap.totalBytes);
  await assert.rejects(s.createVolume(spec('huge', cap.totalBytes * 2)), kind('exhausted'));
});

test('copies: a snapshot holds the data of its moment, a larger clone of it too; a volume in use is not copied (torn)', async () => {
  const { s, root } = store('copy');
  await s.createVolume(spec('src', 4 * MiB));
  const img = join(root, 'volumes', 'src', 'disk.img');
  writeFileSync(img, Buffer.alloc(MiB, 7), { flag: 'r+' });
  const snap = await s.createSnapshot('src', 's1', 'req-s1');
  assert.deepEqual({ ...snap, createdAt: '' }, { volume: 'src', name: 's1', requestName: 'req-s1', sizeBytes: 4 * MiB, createdAt: '', ready: true });
  writeFileSync(img, Buffer.alloc(MiB, 9), { flag: 'r+' });
  const clone = await s.createVolume(spec('clone', 6 * MiB, { source: { kind: 'snapshot', volume: 'src', snapshot: 's1' } }));
  assert.equal(clone.sizeBytes, 6 * MiB);
  const cloned = readFileSync(join(root, 'volumes', 'clone', 'disk.img'));
  assert.equal(cloned.length, 6 * MiB);
  assert.equal(cloned[0], 7, 'the clone holds the snapshot\'s data, not the volume\'s later writes');
  await assert.rejects(s.createVolume(spec('small', 2 * MiB, { source: { kind: 'volume', volume: 'src' } })), kind('out-of-range'));
  await assert.rejects(s.createVolume(spec('x', 4 * MiB, { source: { kind: 'snapshot', volume: 'src', snapshot: 'nope' } })), kind('not-found'));

  await s.publish('src', 'node-a', { readonly: false, multiNode: false });
  await assert.rejects(s.createSnapshot('src', 's2', 'req-s2'), (e: unknown) => kind('precondition')(e) && /published to node-a/.test((e as Error).message));
  await assert.rejects(s.createVolume(spec('c2', 4 * MiB, { source: { kind: 'volume', volume: 'src' } })), kind('precondition'));
  await s.unpublish('src', 'node-a');
  await s.createSnapshot('src', 's2', 'req-s2');
  assert.deepEqual((await s.listSnapshots()).map((x) => x.name).sort(), ['s1', 's2']);
  await s.deleteSnapshot('src', 's1');
  await s.deleteSnapshot('src', 's1');
  assert.deepEqual((await s.listSnapshots()).map((x) => x.name), ['s2']);
});

test('reflink mode: instant copies where the filesystem can, a clear refusal where it cannot', async (t) => {
  const { s, root } = store('reflink');
  await s.createVolume(spec('src', 4 * MiB));
  if (canReflink(join(root, 'volumes'))) {
    t.diagnostic('this filesystem reflinks');
    assert.equal((await s.createSnapshot('src', 's1', 'r')).ready, true);
  } else {
    await assert.rejects(s.createSnapshot('src', 's1', 'r'), (e: unknown) => kind('precondition')(e) && /cannot reflink/.test((e as Error).message));
    assert.deepEqual(await s.listSnapshots(), [], 'the failed copy is no snapshot');
    assert.equal(await s.getSnapshot('src', 's1'), undefined);
  }
});

test('expand grows the image and never shrinks it; publications are recorded with their read-only flag', async () => {
  const { s, root } = store();
  await s.createVolume(spec('v', 4 * MiB));
  const img = join(root, 'volumes', 'v', 'disk.img');
  assert.equal((await s.expandVolume('v', 8 * MiB, 0))?.sizeBytes, 8 * MiB);
  assert.equal(statSync(img).size, 8 * MiB);
  assert.equal((await s.expandVolume('v', 2 * MiB, 0))?.sizeBytes, 8 * MiB, 'a smaller size is no change');
  assert.equal(statSync(img).size, 8 * MiB);
  await assert.rejects(s.expandVolume('v', 16 * MiB, 12 * MiB), kind('out-of-range'));
  assert.equal(await s.expandVolume('gone', 16 * MiB, 0), undefined);
  await s.publish('v', 'n1', { readonly: true, multiNode: true });
  await s.publish('v', 'n2', { readonly: false, multiNode: true });
  await assert.rejects(s.publish('v', 'n1', { readonly: false, multiNode: true }), kind('exists'));
  assert.deepEqual((await s.getVolume('v'))?.published, { n1: { readonly: true }, n2: { readonly: false } });
  await s.unpublish('v');
  assert.deepEqual((await s.getVolume('v'))?.published, {});
  await assert.rejects(s.publish('nope', 'n1', { readonly: false, multiNode: false }), kind('not-found'));
});

test('what a crash leaves (a directory without its state) is no volume; a retry starts afresh, a delete removes it', async () => {
  const { s, root } = store();
  await s.listVolumes(); // makes the layout
  const home = join(root, 'volumes', 'cut');
  mkdirSync(home);
  writeFileSync(join(home, 'disk.img'), Buffer.alloc(MiB, 5)); // a clone's copy, cut short
  assert.deepEqual(await s.listVolumes(), []);
  assert.equal(await s.getVolume('cut'), undefined);
  assert.equal((await s.volumeAny('cut'))?.complete, false, 'a delete finds it');
  await s.createVolume(spec('cut', 2 * MiB));
  const data = readFileSync(join(home, 'disk.img'));
  assert.equal(data.length, 2 * MiB);
  assert.equal(data.indexOf(5), -1, 'nothing of the cut copy is in the new volume');

  mkdirSync(join(root, 'volumes', 'cut2'));
  await s.deleteVolume('cut2');
  await s.deleteVolume('cut');
  await s.deleteVolume('cut');
  assert.equal(await s.volumeAny('cut'), undefined);
  assert.deepEqual(await s.listVolumes(), []);
});

test('a backing path that does not exist is UNAVAILABLE (never made: it could hide a filesystem that failed to mount)', async () => {
  const s = new FileStore({ id: 'files', path: join(base, 'absent'), snapshots: 'copy' }, local);
  await assert.rejects(s.createVolume(spec('v', MiB)), (e: unknown) => kind('unavailable')(e) && /does not exist/.test((e as Error).message));
  assert.throws(() => statSync(join(base, 'absent')));
});

test('the parsers: cat\'s report of a state and its directory; grep\'s path:json lines', () => {
  assert.deepEqual(parseObject('/p/v', '{"a":1}\n', 'cat: /p/v: Is a directory\n'), { home: true, state: '{"a":1}' });
  assert.deepEqual(parseObject('/p/v', '', 'cat: /p/v/state.json: No such file or directory\ncat: /p/v: Is a directory\n'), { home: true });
  assert.deepEqual(parseObject('/p/v', '', 'cat: /p/v/state.json: No such file or directory\ncat: /p/v: No such file or directory\n'), { home: false });
  assert.throws(() => parseObject('/p/v', '', 'cat: /p/v/state.json: Permission denied\n'), /Permission denied/);
  assert.deepEqual([...parseStates('/r/volumes/a/state.json:{"name":"a:b"}\n/r/volumes/b/state.json:{}\n')], [['/r/volumes/a', '{"name":"a:b"}'], ['/r/volumes/b', '{}']]);
});
