// Controller → node agent delegation over the lab network with mutual TLS: a controller on one
// node creates, snapshots, restores and deletes volumes of a node-local pool on the other node
// through that node's agent, runs no LVM command itself, and is refused by the agent when its
// certificate is not the controller's.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LAB_SUBNET, startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { attempt, createReq, lvs, MiB, must, onNode, poolsYaml } from './lvm/setup.js';

let lab: Lab;
let a: LabNode;
let b: LabNode;
let pki: AgentPki;
let poolsFile: string;
let controller: NodeDriver;
const PORT = 9825;
const AGENTS = `lvm-a=${LAB_SUBNET}.1:${PORT},lvm-b=${LAB_SUBNET}.2:${PORT}`;

before(async () => {
  lab = await startLab({
    name: 'lvm-delegation',
    network: true,
    nodes: [{ name: 'lvm-a', services: ['lvm'] }, { name: 'lvm-b', services: ['lvm'] }],
  });
  a = lab.node('lvm-a');
  b = lab.node('lvm-b');
  // Certificates made on the host, in a lab directory both nodes see.
  pki = await makeAgentPki(join(a.runDir, 'pki'));
  poolsFile = join(a.runDir, 'pools.yaml');
  writeFileSync(poolsFile, poolsYaml(['{id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 4}']));
  for (const n of [a, b]) {
    await startDriver(n, {
      nodeId: n.name, poolsFile, mode: 'node', socket: '/run/lab/csi/node.sock', logName: 'node-plugin.log',
      args: ['--agent-listen', `0.0.0.0:${PORT}`, '--agent-tls-dir', pki.agent],
    });
  }
  controller = await startDriver(a, {
    nodeId: 'lvm-a', poolsFile, mode: 'controller', socket: '/run/lab/csi/controller.sock', logName: 'controller.log',
    args: ['--agents', AGENTS, '--agent-tls-dir', pki.controller],
  });
});

after(async () => {
  await lab?.close();
});

test('the controller on lvm-a makes, snapshots, restores and deletes volumes on lvm-b through its agent', async (t) => {
  const v = await must(controller, 'Controller.CreateVolume', createReq('deleg-1', 'thin', 64 * MiB, onNode('lvm-b')));
  assert.deepEqual(v.volume.accessible_topology, [{ segments: { 'topology.poolcsi.io/node': 'lvm-b' } }]);
  assert.ok((await lvs(b)).some((l) => l.name === 'deleg-1'), 'the LV is on lvm-b');
  assert.ok(!(await lvs(a)).some((l) => l.name === 'deleg-1'), 'and not on lvm-a');

  const cap = await must(controller, 'Controller.GetCapacity', { parameters: { pool: 'thin' }, accessible_topology: { segments: { 'topology.poolcsi.io/node': 'lvm-b' } } });
  t.diagnostic(`GetCapacity on lvm-b: ${cap.available_capacity}`);
  assert.equal(Number(cap.available_capacity), 4 * 4096 * MiB - 64 * MiB, 'thin pool 4 GiB x overprovision 4, minus the volume');

  const s = await must(controller, 'Controller.CreateSnapshot', { name: 'deleg-snap', source_volume_id: v.volume.volume_id });
  assert.equal(s.snapshot.ready_to_use, true);
  const r = await must(controller, 'Controller.CreateVolume', createReq('deleg-restored', 'thin', 128 * MiB, {
    volume_content_source: { snapshot: { snapshot_id: s.snapshot.snapshot_id } },
  }));
  assert.deepEqual(r.volume.accessible_topology, [{ segments: { 'topology.poolcsi.io/node': 'lvm-b' } }], 'a restore is made where its snapshot is');
  assert.equal(Number(r.volume.capacity_bytes), 128 * MiB);
  const now = await lvs(b);
  assert.ok(now.some((l) => l.name === 'deleg-restored' && l.size === 128 * MiB));
  assert.ok(now.some((l) => l.name === 'snap.deleg-snap'));

  const listed = await must(controller, 'Controller.ListVolumes', {});
  assert.deepEqual(listed.entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id).sort(), ['thin:deleg-1', 'thin:deleg-restored']);

  for (const id of ['thin:deleg-restored', v.volume.volume_id]) await must(controller, 'Controller.DeleteVolume', { volume_id: id });
  await must(controller, 'Controller.DeleteSnapshot', { snapshot_id: s.snapshot.snapshot_id });
  assert.ok(!(await lvs(b)).some((l) => l.name.includes('deleg')));

  // The controller ran no LVM command: they all ran in lvm-b's agent.
  assert.ok(!/"program":"(lvs|lvcreate|lvremove|lvchange|lvextend|vgs)"/.test(readFileSync(controller.logFile, 'utf8')), 'no LVM command in the controller log');
  assert.match(readFileSync(join(b.logDir, 'node-plugin.log'), 'utf8'), /"program":"lvcreate"/);
});

for (const [which, expect] of [['wrongCa', /unreachable|refused|handshake|certificate/i], ['wrongName', /refused the controller/]] as const) {
  test(`an agent refuses a controller whose certificate is ${which === 'wrongCa' ? 'from another CA' : 'not the controller\'s'}`, async (t) => {
    const rogue = await startDriver(a, {
      nodeId: 'lvm-a', poolsFile, mode: 'controller', socket: `/run/lab/csi/${which}.sock`, logName: `controller-${which}.log`,
      args: ['--agents', AGENTS, '--agent-tls-dir', pki[which]],
    });
    const r = await attempt(rogue, 'Controller.CreateVolume', createReq(`rogue-${which}`, 'thin', 64 * MiB, onNode('lvm-b')));
    t.diagnostic(`${which}: ${r.code}: ${r.details}`);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'UNAVAILABLE');
    assert.match(r.details ?? '', expect);
    assert.ok(!(await lvs(b)).some((l) => l.name.startsWith('rogue')), 'nothing was created');
    await rogue.stop();
  });
}
