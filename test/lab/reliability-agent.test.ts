// Outage of an agent node (lvm delegation over the lab network, mutual TLS): lvm-b's node plugin
// killed, then lvm-b cut off the network (its link down, so nothing answers at all). Calls for
// volumes on lvm-b answer UNAVAILABLE (or DEADLINE_EXCEEDED at the CO's deadline) in bounded time
// (GetCapacity for lvm-b answers 0 bytes: a node that does not answer has no capacity),
// the same pool on lvm-a keeps working meanwhile, and once lvm-b is back everything works
// without restarting the controller.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { LAB_SUBNET, NODE_ENV, REPO_ROOT, pollUntil, startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { createReq, MiB, onNode, poolsYaml } from './lvm/setup.js';


const CALL_JS = join(REPO_ROOT, 'dist', 'test', 'reliability', 'call.js');
/** What a CO sidecar gives one call (csi-provisioner --timeout is 10 s by default; 15 s here). */
const CO_DEADLINE_MS = 15_000;
const PORT = 9825;
const AGENTS = `lvm-a=${LAB_SUBNET}.1:${PORT},lvm-b=${LAB_SUBNET}.2:${PORT}`;
let lab: Lab;
let a: LabNode;
let b: LabNode;
let pki: AgentPki;
let poolsFile: string;
let controller: NodeDriver;
let agentB: NodeDriver;

interface Outcome { ok: boolean; code: string; details: string; response?: any; ms: number }

async function call(method: string, req: object): Promise<Outcome> {
  const r = await a.exec([process.execPath, CALL_JS, controller.socket, method, String(CO_DEADLINE_MS)], { input: JSON.stringify(req), timeoutMs: CO_DEADLINE_MS + 30_000, env: NODE_ENV });
  return JSON.parse(r.stdout) as Outcome;
}

const startAgent = (n: LabNode, log: string) => startDriver(n, {
  nodeId: n.name, poolsFile, mode: 'node', socket: '/run/lab/csi/node.sock', logName: log,
  args: ['--agent-listen', `0.0.0.0:${PORT}`, '--agent-tls-dir', pki.agent],
});

before(async () => {
  lab = await startLab({ name: 'reliability-agent', network: true, nodes: [{ name: 'lvm-a', services: ['lvm'] }, { name: 'lvm-b', services: ['lvm'] }] });
  a = lab.node('lvm-a');
  b = lab.node('lvm-b');
  pki = await makeAgentPki(join(a.runDir, 'pki'));
  poolsFile = join(a.runDir, 'pools.yaml');
  writeFileSync(poolsFile, poolsYaml(['{id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 4}']));
  await startAgent(a, 'node-plugin.log');
  agentB = await startAgent(b, 'node-plugin.log');
  controller = await startDriver(a, {
    nodeId: 'lvm-a', poolsFile, mode: 'controller', socket: '/run/lab/csi/controller.sock', logName: 'controller.log',
    args: ['--agents', AGENTS, '--agent-tls-dir', pki.controller],
  });
});

after(async () => {
  await lab?.close();
});

async function outage(t: TestContext, phase: string, volB: string): Promise<void> {
  const calls: Array<[string, Promise<Outcome>]> = [
    ['CreateVolume on lvm-b', call('Controller.CreateVolume', createReq(`out-${phase}`, 'thin', 16 * MiB, onNode('lvm-b')))],
    ['CreateSnapshot on lvm-b', call('Controller.CreateSnapshot', { name: `out-${phase}-snap`, source_volume_id: volB })],
    ['ControllerExpandVolume on lvm-b', call('Controller.ControllerExpandVolume', { volume_id: volB, capacity_range: { required_bytes: String(32 * MiB) } })],
    ['GetCapacity on lvm-b', call('Controller.GetCapacity', { parameters: { pool: 'thin' }, accessible_topology: { segments: { 'topology.poolcsi.io/node': 'lvm-b' } } })],
  ];
  // The same pool on the node that is up, meanwhile.
  const onA = await call('Controller.CreateVolume', createReq(`out-${phase}-a`, 'thin', 16 * MiB, onNode('lvm-a')));
  t.diagnostic(`${phase}: CreateVolume on lvm-a meanwhile: ${onA.code} in ${onA.ms} ms`);
  assert.ok(onA.ok, `lvm-a while lvm-b is away: ${onA.code} ${onA.details}`);
  assert.ok(onA.ms < 10_000, `lvm-a took ${onA.ms} ms`);
  assert.ok((await call('Controller.DeleteVolume', { volume_id: onA.response.volume.volume_id })).ok);
  for (const [what, p] of calls) {
    const r = await p;
    t.diagnostic(`${phase}: ${what}: ${r.code} in ${r.ms} ms: ${r.details.slice(0, 160)}`);
    if (what.startsWith('GetCapacity')) {
      // By design (Router.gather): a node-local pool's node that does not answer has no
      // capacity, so the scheduler places nothing there; an error would only be retried.
      assert.ok(r.ok && r.response.available_capacity === '0', `${what}: ${r.code} ${JSON.stringify(r.response ?? r.details)}`);
    } else {
      assert.ok(r.code === 'UNAVAILABLE' || r.code === 'DEADLINE_EXCEEDED', `${what}: ${r.code} ${r.details}`);
    }
    assert.ok(r.ms <= CO_DEADLINE_MS + 2000, `${what}: ${r.ms} ms`);
  }
}

async function backAgain(t: TestContext, name: string): Promise<void> {
  const t0 = Date.now();
  const r = await pollUntil(async () => {
    const x = await call('Controller.CreateVolume', createReq(name, 'thin', 16 * MiB, onNode('lvm-b')));
    return x.ok ? x : undefined;
  }, { timeoutMs: 120_000, what: 'CreateVolume on lvm-b to work again', intervalMs: 1000 });
  t.diagnostic(`lvm-b back: CreateVolume works again after ${Date.now() - t0} ms (no controller restart)`);
  assert.ok((await call('Controller.DeleteVolume', { volume_id: r.response.volume.volume_id })).ok);
  assert.equal(controller.down(), undefined, 'the controller kept running');
}

test('an agent node away (plugin killed, then the node cut off) answers UNAVAILABLE in bounded time; the other node goes on; back without a restart', { timeout: 20 * 60_000 }, async (t) => {
  const v = await call('Controller.CreateVolume', createReq('out-base', 'thin', 16 * MiB, onNode('lvm-b')));
  assert.ok(v.ok, `${v.code} ${v.details}`);
  const volB = v.response.volume.volume_id as string;

  // 1. The agent process killed: the port is closed.
  await b.signal(agentB.pid, 'SIGKILL');
  await pollUntil(() => (b.exited(agentB.pid) ? true : undefined), { timeoutMs: 20_000, what: 'the agent to die' });
  await outage(t, 'agent-killed', volB);
  agentB = await startAgent(b, 'node-plugin-2.log');
  await backAgain(t, 'out-back-1');

  // 2. The node cut off: packets go nowhere, nothing refuses them.
  await b.run(['ip', 'link', 'set', 'eth0', 'down']);
  try {
    await outage(t, 'node-cut-off', volB);
  } finally {
    await b.run(['ip', 'link', 'set', 'eth0', 'up']);
  }
  await backAgain(t, 'out-back-2');
  // As a CO would: what answered unavailable is deleted again (a create may have gone on on lvm-b).
  for (const phase of ['agent-killed', 'node-cut-off']) {
    const s = await call('Controller.DeleteSnapshot', { snapshot_id: `${volB}@out-${phase}-snap` });
    assert.ok(s.ok, `DeleteSnapshot: ${s.code} ${s.details}`);
    const d = await call('Controller.DeleteVolume', { volume_id: `thin:out-${phase}` });
    assert.ok(d.ok, `DeleteVolume: ${d.code} ${d.details}`);
  }
  assert.ok((await call('Controller.DeleteVolume', { volume_id: volB })).ok);
  const left = (await b.run(['lvs', '--noheadings', '-o', 'lv_name', 'labvg'], { env: NODE_ENV })).stdout.split(/\s+/).filter((n) => n.startsWith('out-') || n.startsWith('snap.out-'));
  assert.deepEqual(left, [], 'no LV left on lvm-b');
});
