// Placement and retirement survive controller restarts (issue 9 item 4). Two lab nodes, each
// with a node plugin serving its agent over mutual TLS; the controller on lvm-a reaches lvm-b's
// LVs only through lvm-b's agent and keeps no record of where a volume lives: LVM on lvm-b is
// the record. With lvm-b's agent down, a restarted controller cannot know that a volume is not
// there, so DeleteVolume is UNAVAILABLE (the CO retries) and the LV stays; with the agent back
// the retry deletes it. A pool removed from the pools file while the controller was down still
// deletes its volumes after the restart (the pool memory in --state-dir).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LAB_SUBNET, pollUntil, startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type DriverOptions, type NodeDriver } from './harness/driver.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { attempt, createReq, lvs, MiB, must, onNode, poolsYaml } from './lvm/setup.js';

let lab: Lab;
let a: LabNode;
let b: LabNode;
let pki: AgentPki;
let poolsFile: string;
const PORT = 9825;
const AGENTS = `lvm-a=${LAB_SUBNET}.1:${PORT},lvm-b=${LAB_SUBNET}.2:${PORT}`;
const THIN = '{id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 4}';
const OLD = '{id: old, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 4}';

const nodePlugin = (n: LabNode): DriverOptions => ({
  nodeId: n.name, poolsFile, mode: 'node', socket: '/run/lab/csi/node.sock', logName: 'node-plugin.log',
  args: ['--agent-listen', `0.0.0.0:${PORT}`, '--agent-tls-dir', pki.agent],
});
const controllerOpts = (): DriverOptions => ({
  nodeId: 'lvm-a', poolsFile, mode: 'controller', socket: '/run/lab/csi/controller.sock', logName: 'controller.log',
  args: ['--agents', AGENTS, '--agent-tls-dir', pki.controller],
});

let agentB: NodeDriver;
let controller: NodeDriver;

before(async () => {
  lab = await startLab({
    name: 'placement',
    network: true,
    nodes: [{ name: 'lvm-a', services: ['lvm'] }, { name: 'lvm-b', services: ['lvm'] }],
  });
  a = lab.node('lvm-a');
  b = lab.node('lvm-b');
  pki = await makeAgentPki(join(a.runDir, 'pki'));
  poolsFile = join(a.runDir, 'pools.yaml');
  writeFileSync(poolsFile, poolsYaml([THIN, OLD]));
  await startDriver(a, nodePlugin(a));
  agentB = await startDriver(b, nodePlugin(b));
  controller = await startDriver(a, controllerOpts());
});

after(async () => {
  await lab?.close();
});

const onB = async (name: string) => (await lvs(b)).some((l) => l.name === name);

/** DeleteVolume as the CO does it: retried while UNAVAILABLE (the agent's channel reconnects with backoff). */
async function deleteUntilOk(id: string): Promise<void> {
  await pollUntil(async () => {
    const r = await attempt(controller, 'Controller.DeleteVolume', { volume_id: id });
    if (r.ok) return true;
    if (r.code !== 'UNAVAILABLE') throw new Error(`DeleteVolume ${id}: ${r.code}: ${r.details}`);
    return undefined;
  }, { timeoutMs: 90_000, what: `DeleteVolume ${id} to succeed`, intervalMs: 500 });
}

test('a restarted controller with the owning node\'s agent down: DeleteVolume is UNAVAILABLE and the LV stays; the retry deletes it', async (t) => {
  const v = await must(controller, 'Controller.CreateVolume', createReq('place-1', 'thin', 64 * MiB, onNode('lvm-b')));
  assert.ok(await onB('place-1'));

  await agentB.stop();
  await controller.stop();
  controller = await startDriver(a, controllerOpts());

  const r = await attempt(controller, 'Controller.DeleteVolume', { volume_id: v.volume.volume_id });
  t.diagnostic(`DeleteVolume with lvm-b's agent down: ${r.code}: ${r.details}`);
  assert.equal(r.code, 'UNAVAILABLE');
  assert.match(r.details ?? '', /lvm-b/);
  assert.ok(await onB('place-1'), 'the LV is still on lvm-b');
  // Nor can the controller tell that a volume it never made is absent.
  const never = await attempt(controller, 'Controller.DeleteVolume', { volume_id: 'thin:never-made' });
  assert.equal(never.code, 'UNAVAILABLE');
  // Lists are partial instead: lvm-a answers, lvm-b is left out.
  assert.equal((await attempt(controller, 'Controller.ListVolumes', {})).ok, true);

  agentB = await startDriver(b, nodePlugin(b));
  await deleteUntilOk(v.volume.volume_id);
  assert.ok(!(await onB('place-1')), 'the retry deleted the LV');
  await must(controller, 'Controller.DeleteVolume', { volume_id: 'thin:never-made' });
});

test('a pool removed from the pools file while the controller was down still deletes its volumes after the restart', async () => {
  const kept = await must(controller, 'Controller.CreateVolume', createReq('old-1', 'old', 64 * MiB, onNode('lvm-b')));
  const other = await must(controller, 'Controller.CreateVolume', createReq('old-2', 'old', 64 * MiB, onNode('lvm-b')));
  assert.ok(await onB('old-1'));

  await controller.stop();
  writeFileSync(poolsFile, poolsYaml([THIN]));
  // lvm-b's node plugin restarts too: its agent no longer defines "old" at all.
  await agentB.stop();
  agentB = await startDriver(b, nodePlugin(b));
  controller = await startDriver(a, controllerOpts());

  const refused = await attempt(controller, 'Controller.CreateVolume', createReq('old-3', 'old', 64 * MiB, onNode('lvm-b')));
  assert.equal(refused.code, 'INVALID_ARGUMENT', 'a retired pool takes no new volumes');
  await deleteUntilOk(kept.volume.volume_id);
  assert.ok(!(await onB('old-1')), 'the LV of the removed pool was deleted, not skipped');
  assert.ok(await onB('old-2'));

  // An identity change of the remembered pool is refused: its volume stays reachable.
  writeFileSync(poolsFile, poolsYaml([THIN, '{id: old, type: lvmthin, vgname: othervg, thinpool: thin}']));
  await controller.stop();
  controller = await startDriver(a, controllerOpts());
  await deleteUntilOk(other.volume.volume_id);
  assert.ok(!(await onB('old-2')));

  // A pool this controller never knew: not OK, since it cannot tell.
  const unknown = await attempt(controller, 'Controller.DeleteVolume', { volume_id: 'never-a-pool:pvc-1' });
  assert.equal(unknown.code, 'FAILED_PRECONDITION');
});
