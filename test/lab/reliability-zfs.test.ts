// The reliability harness (test/reliability/) on real OpenZFS in the lab's ZFS guest: crash
// consistency of a zfspool under SIGKILL (with NodeStage/NodeUnstage killed mid-call) and the
// proto-driven fuzz, judged by `zfs list` of the pool's datasets and snapshots.
// Opt-in (POOLCSI_LAB_ZFS=1), like zfs-sanity.test.ts: it boots the QEMU guest, and every zfs
// command costs about half a second under emulation, outside CI's time budget.
import { test } from 'node:test';
import { startZfsGuest } from './harness/index.js';
import { runLaneIn, sized } from './reliability-support.js';

const ENABLED = process.env.POOLCSI_LAB_ZFS === '1';

test('zfspool: no leak, loss, stray or crash under SIGKILL and fuzz', {
  skip: ENABLED ? false : 'opt-in: POOLCSI_LAB_ZFS=1 (boots the QEMU ZFS guest; builds its image when not cached)',
  timeout: 60 * 60_000,
}, async (t) => {
  const z = await startZfsGuest({ name: 'rel-zfs', diskBytes: 2 * 1024 ** 3 });
  try {
    for (const l of z.lab.report()) t.diagnostic(l);
    await runLaneIn(z.guest, t, 'zfspool', [...sized(20, 150, 1), '--parent', z.dataset], 50 * 60_000);
  } finally {
    await z.lab.close();
  }
});
