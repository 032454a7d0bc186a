import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPoolcsi } from './helpers.js';

test('Probe is not ready while no valid pools are loaded', async () => {
  const h = await startPoolcsi({ pools: () => 'pools:\n  - {id: Bad, type: dir, path: relative}\n' });
  try {
    assert.equal((await h.identity('Probe', {})).ready.value, false);
  } finally {
    await h.stop();
  }
});
