// A create interrupted by a crash leaves a half-made volume (state "complete": false). A retry
// of the create finishes it; a DeleteVolume (the CO gave up) removes it: nothing leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MOUNT_CAP, startPoolcsi } from './helpers.js';

const halfMade = (name: string) => ({
  name, requestName: name, sizeBytes: 1048576, mode: 'filesystem', params: {}, complete: false, node: 'node-a',
});

test('DeleteVolume removes a half-made volume; a create retry completes one', async () => {
  const h = await startPoolcsi();
  try {
    const vols = join(h.dir, 'pool', 'volumes');
    await mkdir(join(vols, 'pvc-half', 'data'), { recursive: true });
    await writeFile(join(vols, 'pvc-half', 'state.json'), JSON.stringify(halfMade('pvc-half')));
    const listed = await h.controller('ListVolumes', {});
    assert.equal(listed.entries.length, 0, 'a half-made volume is not listed');
    await h.controller('DeleteVolume', { volume_id: 'local:pvc-half' });
    assert.equal(existsSync(join(vols, 'pvc-half')), false);

    await mkdir(join(vols, 'pvc-retry', 'data'), { recursive: true });
    await writeFile(join(vols, 'pvc-retry', 'state.json'), JSON.stringify(halfMade('pvc-retry')));
    const r = await h.controller('CreateVolume', {
      name: 'pvc-retry', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local' }, capacity_range: { required_bytes: '1048576' },
    });
    assert.equal(r.volume.volume_id, 'local:pvc-retry');
    assert.equal((await h.controller('ListVolumes', {})).entries.length, 1);
    await h.controller('DeleteVolume', { volume_id: 'local:pvc-retry' });
  } finally {
    await h.stop();
  }
});
