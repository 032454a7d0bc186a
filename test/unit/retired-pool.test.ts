// A pool removed from the pools file keeps serving its existing volumes, and takes no new ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { waitFor } from '../../src/exec/wait.js';
import { MOUNT_CAP, rejectsWith, startPoolcsi } from './helpers.js';

test('a removed pool keeps its volumes usable after a reload (SIGHUP)', async () => {
  const h = await startPoolcsi({ pools: (dir) => `pools:\n  - {id: old, type: dir, path: ${join(dir, 'pool')}}\n` });
  try {
    const v = await h.controller('CreateVolume', { name: 'pvc-keep', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'old' } });
    await mkdir(join(h.dir, 'pool2'));
    await writeFile(join(h.dir, 'pools.yaml'), `pools:\n  - {id: new, type: dir, path: ${join(h.dir, 'pool2')}}\n`);
    process.kill(process.pid, 'SIGHUP');
    await waitFor(async () => {
      try {
        await h.controller('CreateVolume', { name: 'probe', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'new' } });
        return true;
      } catch { return undefined; }
    }, { timeoutMs: 5000, what: 'the reloaded pools' });
    assert.match(await rejectsWith(h.controller('CreateVolume', { name: 'pvc-2', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'old' } }), status.INVALID_ARGUMENT), /unknown pool "old"/);
    const ok = await h.controller('ValidateVolumeCapabilities', { volume_id: v.volume.volume_id, volume_capabilities: [MOUNT_CAP] });
    assert.ok(ok.confirmed);
    const listed = await h.controller('ListVolumes', {});
    assert.ok(listed.entries.some((e: { volume: { volume_id: string } }) => e.volume.volume_id === 'old:pvc-keep'));
    await h.controller('DeleteVolume', { volume_id: v.volume.volume_id });
    await rejectsWith(h.controller('ValidateVolumeCapabilities', { volume_id: v.volume.volume_id, volume_capabilities: [MOUNT_CAP] }), status.NOT_FOUND);
  } finally {
    await h.stop();
  }
});

test('after a restart a removed pool still deletes its volumes, then is forgotten once empty', async () => {
  const h = await startPoolcsi({ pools: (dir) => `pools:\n  - {id: old, type: dir, path: ${join(dir, 'pool')}}\n` });
  const poolsFile = join(h.dir, 'pools.yaml');
  const stateDir = join(h.dir, 'state');
  let h2;
  try {
    const v1 = await h.controller('CreateVolume', { name: 'pvc-1', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'old' } });
    const v2 = await h.controller('CreateVolume', { name: 'pvc-2', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'old' } });
    await h.stop();
    // Removed from the list while the controller was down.
    await mkdir(join(h.dir, 'pool2'));
    await writeFile(poolsFile, `pools:\n  - {id: new, type: dir, path: ${join(h.dir, 'pool2')}}\n`);
    h2 = await startPoolcsi({ extra: { poolsFile, stateDir } });
    assert.match(await rejectsWith(h2.controller('CreateVolume', { name: 'pvc-3', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'old' } }), status.INVALID_ARGUMENT), /unknown pool "old"/);
    await h2.controller('DeleteVolume', { volume_id: v1.volume.volume_id });
    await assert.rejects(stat(join(h.dir, 'pool', 'volumes', 'pvc-1')), /ENOENT/, 'the volume was deleted, not skipped');
    assert.ok((await stat(join(h.dir, 'pool', 'volumes', 'pvc-2'))).isDirectory());
    const memory = async () => JSON.parse(await readFile(join(stateDir, 'known-pools.json'), 'utf8')) as { retired: Array<{ id: string }> };
    assert.deepEqual((await memory()).retired.map((p) => p.id), ['old'], 'kept while it holds pvc-2');
    await h2.controller('DeleteVolume', { volume_id: v2.volume.volume_id });
    await waitFor(async () => ((await memory()).retired.length === 0 ? true : undefined), { timeoutMs: 5000, what: 'the empty retired pool to be forgotten' });
    // Forgotten: a well-formed id of it is no longer OK to "delete".
    assert.match(await rejectsWith(h2.controller('DeleteVolume', { volume_id: v2.volume.volume_id }), status.FAILED_PRECONDITION), /not in the pools list and not remembered/);
  } finally {
    await h2?.stop();
  }
});

test('DeleteVolume and DeleteSnapshot on a pool never known: FAILED_PRECONDITION naming the fix; a malformed id stays OK', async () => {
  const h = await startPoolcsi();
  try {
    const msg = await rejectsWith(h.controller('DeleteVolume', { volume_id: 'nosuch:pvc-1' }), status.FAILED_PRECONDITION);
    assert.match(msg, /pool "nosuch".*Add pool "nosuch" back to the pools list.*reclaim policy to Retain/);
    await rejectsWith(h.controller('DeleteSnapshot', { snapshot_id: 'nosuch:pvc-1@snap-1' }), status.FAILED_PRECONDITION);
    await h.controller('DeleteVolume', { volume_id: 'not an id' });
    await h.controller('DeleteSnapshot', { snapshot_id: 'not an id' });
  } finally {
    await h.stop();
  }
});
