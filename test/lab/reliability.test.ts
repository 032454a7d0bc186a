// The reliability harness (test/reliability/) in a lab node with real device-mapper and Ceph:
// crash consistency under SIGKILL, NodeStage/NodeUnstage killed mid-call and the proto-driven
// fuzz for lvm, lvmthin and rbd, then the Ceph monitor taken away at rest and mid-operation
// (all in CI: rbd's lane fits since the controller's rbd commands run through the librbd
// helper, 3 minutes where it took 13).
// The harness runs inside the node (its socket, `lvs` and `rbd` are local there); this file
// boots the node, starts each run and reads its JSON report. Sizes are CI-sized; larger runs:
// npm run test:reliability -- --types lvm,lvmthin,rbd --ops N --seed S.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLab, type Lab, type LabNode } from './harness/index.js';
import { cephKey, startMgr, writeSecretDir } from './rbd-support.js';
import { runLaneIn, runOutageIn, sized } from './reliability-support.js';

const NODE = 'rel';
let lab: Lab;
let node: LabNode;

before(async () => {
  lab = await startLab({ name: 'reliability', nodes: [{ name: NODE, services: ['lvm', 'ceph'], memMiB: 2048 }] });
  node = lab.node(NODE);
});

after(async () => {
  await lab?.close();
});

test('lvm: no leak, loss, stray or crash under SIGKILL and fuzz', { timeout: 30 * 60_000 }, async (t) => {
  // The size that has run green in the lab (CI's budget); the soak runs longer ones.
  await runLaneIn(node, t, 'lvm', sized(20, 150, 1), 25 * 60_000);
});

test('lvmthin: no leak, loss, stray or crash under SIGKILL and fuzz', { timeout: 30 * 60_000 }, async (t) => {
  // The lvm lane's size (the thin pool's lane code is the same).
  await runLaneIn(node, t, 'lvmthin', sized(20, 150, 1), 25 * 60_000);
});

/** The pool's key where the rbd lanes read it, and a mgr for `ceph df`: once, for whichever rbd test runs first. */
let cephReady: Promise<void> | undefined;
const readyCeph = () => (cephReady ??= (async () => {
  await writeSecretDir(node, '/run/lab/rbd/secrets', await cephKey(node));
  await startMgr(node);
})());

test('rbd: no leak, loss, stray or crash under SIGKILL and fuzz', { timeout: 40 * 60_000 }, async (t) => {
  await readyCeph();
  await runLaneIn(node, t, 'rbd', sized(20, 150, 1), 35 * 60_000);
});

test('rbd: monitors down at rest and mid-operation answer UNAVAILABLE in bounded time; other pools go on; back without a restart', { timeout: 15 * 60_000 }, async (t) => {
  await readyCeph();
  await runOutageIn(node, t, 'rbd', {
    down: ['pkill', '-x', 'ceph-mon'], up: ['ceph-mon', '-i', 'a'], ready: ['ceph', 'health', '--connect-timeout', '5'],
  });
});
