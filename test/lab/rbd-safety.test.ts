// issue 10 on a real Ceph (mon + memstore OSD) in one lab node, the controller alone:
//  - item 4: the last two snapshots of a deleted volume, deleted at the same time, take the
//    hidden image with them (neither delete may leave it to the other);
//  - item 5: a single-node volume published to one node is FAILED_PRECONDITION on another,
//    and the record survives a controller restart (it lives on the image).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pollUntil, REPO_ROOT, startDriver, startLab, type Lab, type LabNode, type NodeDriver } from './harness/index.js';
import { cephKey, must, rbdPoolYaml, refused, writeIn, writeSecretDir } from './rbd-support.js';

const POOLS = '/run/lab/rbd/pools.yaml';
const SECRETS_DIR = '/run/lab/rbd/secrets';
const MiB = 1024 * 1024;
const MOUNT_RWO = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'ext4' } };

let lab: Lab | undefined;
let node: LabNode;
let controller: NodeDriver;
let key = '';
const secrets = () => ({ userID: 'admin', userKey: key });

before(async () => {
  lab = await startLab({ name: 'rbd-safety', nodes: [{ name: 'rbd-safety', services: ['ceph'], memMiB: 1536 }] });
  node = lab.node('rbd-safety');
  key = await cephKey(node);
  await writeIn(node, POOLS, rbdPoolYaml({ monhost: '127.0.0.1:6789' }));
  await writeSecretDir(node, SECRETS_DIR, key);
  controller = await startController('poolcsi-controller.log');
});

after(async () => {
  await lab?.close();
});

function startController(logName: string): Promise<NodeDriver> {
  return startDriver(node, { mode: 'controller', nodeId: 'rbd-safety', poolsFile: POOLS, args: ['--secrets-dir', SECRETS_DIR], logName });
}

const rbd = async (...args: string[]) => (await node.run(['rbd', ...args])).stdout;

test('item 4: concurrent deletes of a deleted volume\'s last two snapshots remove its hidden image', async (t) => {
  for (let round = 1; round <= 2; round++) {
    const name = `gone-${round}`;
    const v = await must(controller, 'Controller.CreateVolume', {
      name, capacity_range: { required_bytes: String(16 * MiB) }, volume_capabilities: [MOUNT_RWO], parameters: { pool: 'ceph' }, secrets: secrets(),
    });
    const snaps: string[] = [];
    for (const s of ['a', 'b']) {
      const r = await must(controller, 'Controller.CreateSnapshot', { name: `${name}-${s}`, source_volume_id: v.volume.volume_id, secrets: secrets() });
      snaps.push(r.snapshot.snapshot_id);
    }
    await must(controller, 'Controller.DeleteVolume', { volume_id: v.volume.volume_id, secrets: secrets() });
    assert.match(await rbd('ls', 'rbd'), new RegExp(`^${name}$`, 'm'), 'the image is kept, hidden, for its snapshots');
    // Both at once; a refused one (ABORTED, or the image busy under the other's removal) is
    // retried as the CO would, until both answered OK.
    let pending = snaps;
    for (let attempt = 0; pending.length && attempt < 10; attempt++) {
      // A call the client gave up on (a loaded lab) counts as refused too: the CO retries those.
      const results = await Promise.all(pending.map((id) => controller.call('Controller.DeleteSnapshot', { snapshot_id: id, secrets: secrets() })
        .catch((e: Error) => ({ ok: false as const, code: -1, details: e.message }))));
      for (const r of results) if (!r.ok) t.diagnostic(`round ${round}: DeleteSnapshot not answered OK (${r.code}: ${r.details}); retried`);
      pending = pending.filter((_, i) => !results[i]!.ok);
    }
    assert.deepEqual(pending, [], 'both deletes answered OK');
    assert.doesNotMatch(await rbd('ls', 'rbd'), new RegExp(`^${name}$`, 'm'), `round ${round}: the hidden image is gone`);
    assert.doesNotMatch(await rbd('trash', 'ls', 'rbd'), new RegExp(name), `round ${round}: not left in the trash either`);
  }
});

test('item 5: a single-node volume published to one node is FAILED_PRECONDITION on a second, across a restart', async () => {
  const v = await must(controller, 'Controller.CreateVolume', {
    name: 'rwo', capacity_range: { required_bytes: String(16 * MiB) }, volume_capabilities: [MOUNT_RWO], parameters: { pool: 'ceph' }, secrets: secrets(),
  });
  const id = v.volume.volume_id;
  const publish = (nodeId: string) => ({ volume_id: id, node_id: nodeId, volume_capability: MOUNT_RWO, secrets: secrets() });
  await must(controller, 'Controller.ControllerPublishVolume', publish('node-a'));
  const second = await refused(controller, 'Controller.ControllerPublishVolume', publish('node-b'));
  assert.equal(second.code, 'FAILED_PRECONDITION', second.details);
  assert.match(second.details, /published to node node-a/);

  // The record is on the image: a new controller process refuses too.
  await node.signal(controller.pid, 'SIGTERM');
  const pid = controller.pid;
  await pollUntil(() => (node.exited(pid) ? true : undefined), { timeoutMs: 30_000, what: 'the controller to stop' });
  await node.run(['rm', '-f', controller.socket]);
  controller = await startController('poolcsi-controller-2.log');
  assert.equal((await refused(controller, 'Controller.ControllerPublishVolume', publish('node-b'))).code, 'FAILED_PRECONDITION');
  await must(controller, 'Controller.ControllerPublishVolume', publish('node-a')); // the same node again: fine

  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: id, node_id: 'node-a', secrets: secrets() });
  await must(controller, 'Controller.ControllerPublishVolume', publish('node-b'));
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: id, node_id: 'node-b', secrets: secrets() });
  await must(controller, 'Controller.DeleteVolume', { volume_id: id, secrets: secrets() });
});

// The librbd helper (helpers/librbd-helper.py) runs the controller's rbd commands on one open
// connection. Every command it takes must give what `rbd` gives: the same report (parsed by the
// driver's own report.ts), the same errno, the same effect on twin images.
test('the librbd helper answers every command it takes as the rbd program does', async (t) => {
  await writeIn(node, '/run/lab/rbd/compare.key', key);
  const r = await node.run(['node', join(REPO_ROOT, 'dist', 'test', 'lab', 'tools', 'librbd-compare.js'), '--keyfile', '/run/lab/rbd/compare.key'], { timeoutMs: 600_000 });
  const { results } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { results: Array<{ command: string; same: boolean; helper?: unknown; cli?: unknown }> };
  for (const x of results) t.diagnostic(`${x.same ? 'same' : 'DIFFERENT'}: ${x.command}${x.same ? '' : ` helper ${JSON.stringify(x.helper)} rbd ${JSON.stringify(x.cli)}`}`);
  assert.ok(results.length >= 30, `${results.length} commands compared`);
  assert.deepEqual(results.filter((x) => !x.same), []);
});

test('the controller ran its rbd commands through the helper: no rbd process for a command the helper takes', () => {
  const TAKEN = new Set(['info', 'image-meta', 'create', 'clone', 'resize', 'feature', 'snap', 'rm', 'trash', 'ls']);
  let helped = 0;
  const processes: string[] = [];
  for (const line of readFileSync(controller.logFile, 'utf8').split('\n')) {
    if (!line.includes('"rbd"')) continue;
    const j = JSON.parse(line) as { msg?: string; program?: string; args?: string[] };
    if (j.program !== 'rbd') continue;
    if (j.msg === 'librbd') helped++;
    const sub = j.args?.find((a, i) => i > 0 && !a.startsWith('-') && !j.args![i - 1]!.startsWith('-'));
    if (j.msg === 'exec' && sub && TAKEN.has(sub)) processes.push(j.args!.slice(-6).join(' '));
  }
  assert.ok(helped >= 10, `${helped} commands through the helper`);
  assert.deepEqual(processes, []);
});
