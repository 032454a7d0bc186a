// The stage stash: atomic, private, and refused when damaged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeError } from '../../src/node/errors.js';
import { readStash, removeStash, STASH_FILE, writeStash, type StageStash } from '../../src/node/stash.js';

const sample: StageStash = {
  version: 1, volumeId: 'ceph:pvc-1', state: 'staged', mode: 'block', fsType: '', mountOptions: [], readonly: false,
  transport: 'rbd', descriptor: { monhost: '10.0.0.1', pool: 'kube', image: 'pvc-1', udev: 'auto' },
  attached: { kind: 'device', path: '/dev/rbd0', readonly: false, stash: { device: '/dev/rbd0' } },
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-stash-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

test('write then read gives the same stash; the file is 0600 and no temporary file stays', () => withDir(async (dir) => {
  assert.equal(await readStash(dir), undefined, 'no stash yet');
  await writeStash(dir, { ...sample, state: 'attaching', attached: undefined } as StageStash);
  assert.equal((await readStash(dir))?.state, 'attaching');
  await writeStash(dir, sample);
  assert.deepEqual(await readStash(dir), sample);
  assert.equal((await stat(join(dir, STASH_FILE))).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), [STASH_FILE]);
  await removeStash(dir);
  await removeStash(dir);
  assert.equal(await readStash(dir), undefined);
}));

test('a staging path that is not there has no stash', async () => {
  assert.equal(await readStash('/nonexistent/poolcsi/staging'), undefined);
});

test('damaged or hostile stash contents are refused (FAILED_PRECONDITION), never half-used', () => withDir(async (dir) => {
  const bad: unknown[] = [
    'not json',
    '[]',
    { ...sample, version: 2 },
    { ...sample, volumeId: '' },
    { ...sample, state: 'done' },
    { ...sample, mode: 'raw' },
    { ...sample, transport: '../x' },
    { ...sample, descriptor: { pool: 1 } },
    { ...sample, mountOptions: 'ro' },
    { ...sample, attached: { ...sample.attached, path: 'dev/rbd0' } },
    { ...sample, attached: { ...sample.attached, path: '/dev/../etc/passwd' } },
    { ...sample, attached: undefined },
    { ...sample, readonly: 'no' },
  ];
  for (const b of bad) {
    await writeFile(join(dir, STASH_FILE), typeof b === 'string' ? b : JSON.stringify(b));
    await assert.rejects(readStash(dir), (e: unknown) => e instanceof NodeError && e.kind === 'precondition', JSON.stringify(b));
  }
  await writeFile(join(dir, STASH_FILE), `{"version":1,"pad":"${'x'.repeat(70_000)}"}`);
  await assert.rejects(readStash(dir), /larger than/);
}));
