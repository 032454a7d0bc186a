// A pool removed from the pools file keeps serving its existing volumes, and takes no new ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
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
