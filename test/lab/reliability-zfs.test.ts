// The reliability harness (test/reliability/) on real OpenZFS in the lab's ZFS guest, which is
// also its own LIO storage host (service iscsi-target):
// - zfspool: crash consistency under SIGKILL (with NodeStage/NodeUnstage killed mid-call) and the
//   proto-driven fuzz, judged by `zfs list` of the pool's datasets and snapshots;
// - zfs-iscsi: the same for the controller's side (zvols, LIO targets and storage objects,
//   ControllerPublish/Unpublish as ACLs; the guest has no initiator, so no stage rounds).
// Opt-in (POOLCSI_LAB_ZFS=1), like zfs-sanity.test.ts: CI runs these lanes smaller inside the
// zfs-iscsi lab's guest (zfs-iscsi.test.ts); this file runs them at the other lanes' size (20
// operations; REL_ZFS_OPS) in a guest of its own.
import { after, before, test } from 'node:test';
import { startZfsGuest, type ZfsLab } from './harness/index.js';
import { runLaneIn, sized } from './reliability-support.js';

const ENABLED = process.env.POOLCSI_LAB_ZFS === '1';
const OPT_IN = { skip: ENABLED ? false : 'opt-in: POOLCSI_LAB_ZFS=1 (boots the QEMU ZFS guest; builds its image when not cached)', timeout: 60 * 60_000 };
const OPS = Number(process.env.REL_ZFS_OPS ?? 20);
let z: ZfsLab | undefined;

before(async () => {
  if (ENABLED) z = await startZfsGuest({ name: 'rel-zfs', diskBytes: 2 * 1024 ** 3, services: ['iscsi-target'] });
});

after(async () => {
  await z?.lab.close();
});

test('zfspool: no leak, loss, stray or crash under SIGKILL and fuzz', OPT_IN, async (t) => {
  for (const l of z!.lab.report()) t.diagnostic(l);
  await runLaneIn(z!.guest, t, 'zfspool', [...sized(OPS, 150, 1), '--parent', z!.dataset], 50 * 60_000);
});

test('zfs-iscsi: no leaked zvol, target or ACL, no loss, no crash under SIGKILL and fuzz', OPT_IN, async (t) => {
  await runLaneIn(z!.guest, t, 'zfs-iscsi', [...sized(OPS, 150, 1), '--parent', z!.dataset], 50 * 60_000);
});
