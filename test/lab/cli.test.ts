// Issue 17: the admin commands against real storage, run the way an admin runs them.
//   - lvmthin on cli-b, the commands run on cli-a (the controller side) with --agents: every
//     LVM call goes through cli-b's agent over mutual TLS (cli-a has no LVM at all).
//   - rbd on cli-a (Ceph mon + OSD + mgr there), the commands run on cli-a with --secrets-dir.
// For each: `pools status` says what GetCapacity says; `volumes alloc` makes a volume that
// ControllerPublish + NodeStage + NodePublish of the running driver use (data written through
// the mount); `volumes path` on the staging node prints the device the kernel has; `volumes
// free` refuses it while published/staged, and with --force the storage's own refusal (open LV,
// rbd watchers) still stands; `volumes info` shows snapshots, clones and origin; exit codes
// 0, 1, 2. Every command and its output goes to <artifacts>/cli/transcript.md (docs/cli.md).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DRIVER_MAIN, LAB_SUBNET, NODE_ENV, startDriver, startLab, type Lab, type LabNode, type NodeDriver } from './harness/index.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { cephKey, must, rbdPoolYaml, startMgr, writeIn, writeSecretDir } from './rbd-support.js';
import { lvs, MiB, mountCap, sh } from './lvm/setup.js';

const PORT = 9825;
const SECRETS_DIR = '/run/lab/cli/secrets';
const KUBELET = '/run/lab/kubelet';
const TOPOLOGY = 'topology.poolcsi.io/node';

let lab: Lab;
let a: LabNode;
let b: LabNode;
let pki: AgentPki;
let poolsFile: string;
let driverA: NodeDriver;
let driverB: NodeDriver;
let key = '';
let agentFlags: string[] = [];
const transcript: string[] = [];

before(async () => {
  lab = await startLab({
    name: 'cli',
    network: true,
    nodes: [{ name: 'cli-a', services: ['ceph'], memMiB: 1536 }, { name: 'cli-b', services: ['lvm'] }],
  });
  a = lab.node('cli-a');
  b = lab.node('cli-b');
  pki = await makeAgentPki(join(a.runDir, 'pki'));
  poolsFile = join(a.runDir, 'pools.yaml');
  writeFileSync(poolsFile, rbdPoolYaml({ monhost: `${a.ip}:6789` })
    + '  - {id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 4, nodes: [cli-b]}\n');
  key = await cephKey(a);
  await writeSecretDir(a, SECRETS_DIR, key);
  await startMgr(a);
  agentFlags = ['--agents', `cli-b=${LAB_SUBNET}.2:${PORT}`, '--agent-tls-dir', pki.controller];
  // cli-b: the node plugin with its agent. cli-a: controller + node plugin (rbd), reaching cli-b's agent.
  driverB = await startDriver(b, {
    nodeId: 'cli-b', poolsFile, mode: 'node', logName: 'node-plugin.log',
    args: ['--agent-listen', `0.0.0.0:${PORT}`, '--agent-tls-dir', pki.agent],
  });
  driverA = await startDriver(a, {
    nodeId: 'cli-a', poolsFile, mode: 'all', logName: 'driver.log',
    args: [...agentFlags, '--secrets-dir', SECRETS_DIR],
  });
});

after(async () => {
  if (lab) writeFileSync(join(lab.artifactsDir, 'transcript.md'), transcript.join('\n'));
  await lab?.close();
});

interface Run { code: number | null; stdout: string; stderr: string }

/** `poolcsi ARGS` in a node as an admin runs it (pools file and node name from the environment); recorded. */
async function poolcsi(node: LabNode, args: string[]): Promise<Run> {
  const shown = args;
  const r = await node.exec([process.execPath, DRIVER_MAIN, ...args], {
    env: { ...NODE_ENV, POOLCSI_POOLS_FILE: poolsFile, NODE_ID: node.name }, timeoutMs: 120_000,
  });
  transcript.push(`### ${node.name}: poolcsi ${shown.join(' ')}`, '', '```', `$ poolcsi ${shown.join(' ')}`,
    r.stdout.trimEnd(), ...(r.stderr ? [r.stderr.trimEnd()] : []), ...(r.code ? [`rc=${r.code}`] : []), '```', '');
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The command from the controller side: node-local pools through cli-b's agent. */
const viaAgents = (args: string[]) => poolcsi(a, [...args, ...agentFlags]);
const onA = (args: string[]) => poolcsi(a, [...args, '--secrets-dir', SECRETS_DIR]);

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what}: rc=${r.code}\n${r.stderr}`);
  return r.stdout;
}

function refused(r: Run, what: string, reason: RegExp): void {
  assert.equal(r.code, 1, `${what}: rc=${r.code} (1 expected)\n${r.stdout}${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line on stderr: ${r.stderr}`);
  assert.match(r.stderr, reason);
}

const secrets = () => ({ userID: 'admin', userKey: key });
const stagingOf = (tag: string) => `${KUBELET}/plugins/kubernetes.io/csi/poolcsi.io/${tag}/globalmount`;
const targetOf = (tag: string) => `${KUBELET}/pods/pod-${tag}/volumes/kubernetes.io~csi/${tag}/mount`;

/** What kubelet does to run a pod on `node`: ControllerPublish, NodeStage, NodePublish; then writes a file. */
async function attach(node: LabNode, driver: NodeDriver, v: { volume_id: string; volume_context: Record<string, string> }, tag: string, withSecrets: boolean): Promise<void> {
  const s = withSecrets ? { secrets: secrets() } : {};
  await node.run(['mkdir', '-p', stagingOf(tag), targetOf(tag)]);
  await must(driverA, 'Controller.ControllerPublishVolume', { volume_id: v.volume_id, node_id: node.name, volume_capability: mountCap, ...s });
  await must(driver, 'Node.NodeStageVolume', { volume_id: v.volume_id, staging_target_path: stagingOf(tag), volume_capability: mountCap, volume_context: v.volume_context, ...s });
  await must(driver, 'Node.NodePublishVolume', { volume_id: v.volume_id, staging_target_path: stagingOf(tag), target_path: targetOf(tag), volume_capability: mountCap, volume_context: v.volume_context, ...s });
  await node.run(['sh', '-c', 'echo written-through-the-driver > "$1/data" && sync', 'sh', targetOf(tag)]);
}

async function detach(node: LabNode, driver: NodeDriver, id: string, tag: string, withSecrets: boolean): Promise<void> {
  const s = withSecrets ? { secrets: secrets() } : {};
  await must(driver, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: targetOf(tag) });
  await must(driver, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: stagingOf(tag) });
  await must(driverA, 'Controller.ControllerUnpublishVolume', { volume_id: id, node_id: node.name, ...s });
}

/** GetCapacity of the running controller, for the pool (and a node's topology segment). */
async function capacity(pool: string, node?: string): Promise<number> {
  const r = await must(driverA, 'Controller.GetCapacity', { parameters: { pool }, ...(node ? { accessible_topology: { segments: { [TOPOLOGY]: node } } } : {}) });
  return Number(r.available_capacity);
}

/** The kernel's major:minor of a device path in a node. */
async function devno(node: LabNode, path: string): Promise<string> {
  return (await node.run(['stat', '-L', '-c', '%t:%T', path])).stdout.trim();
}

test('pools status gives the numbers GetCapacity gives, for lvmthin through the agent and for rbd', async () => {
  const before = { thin: await capacity('thin', 'cli-b'), thinAll: await capacity('thin'), ceph: await capacity('ceph') };
  const table = ok(await viaAgents(['pools', 'status', '--secrets-dir', SECRETS_DIR]), 'pools status');
  const j = JSON.parse(ok(await viaAgents(['pools', 'status', '--secrets-dir', SECRETS_DIR, '--json']), 'pools status --json'));
  const after = { thin: await capacity('thin', 'cli-b'), ceph: await capacity('ceph') };
  const thin = j.pools.find((p: { id: string }) => p.id === 'thin');
  const ceph = j.pools.find((p: { id: string }) => p.id === 'ceph');
  assert.equal(thin.reachable, true, JSON.stringify(thin));
  assert.equal(thin.availableBytes, before.thin, 'thin: GetCapacity on cli-b');
  assert.equal(thin.availableBytes, before.thinAll, 'thin: GetCapacity without topology');
  assert.equal(before.thin, after.thin);
  assert.deepEqual(thin.perNode.map((n: { node: string }) => n.node), ['cli-b']);
  assert.equal(thin.perNode[0].availableBytes, before.thin);
  assert.equal(ceph.reachable, true, JSON.stringify(ceph));
  // Ceph's statistics may move between two reads; the status must be one of GetCapacity's.
  assert.ok([before.ceph, after.ceph].includes(ceph.availableBytes), `ceph: status ${ceph.availableBytes}, GetCapacity ${before.ceph} / ${after.ceph}`);
  assert.match(table, /^thin\s+lvmthin\s+active\s+cli-b\s/m);
  assert.match(table, /^ceph\s+rbd\s+active\s+\(all\)\s/m);
  // Without --agents, on cli-a (no LVM, not a node of the pool): the thin pool says where to run it.
  assert.match(ok(await onA(['pools', 'status']), 'pools status on cli-a'), /^thin\s+node-local pool not on this node \(cli-a\); run this on one of: cli-b, or with --agents$/m);
  // The same numbers on cli-b itself, in process.
  const local = JSON.parse(ok(await poolcsi(b, ['pools', 'status', '--json']), 'pools status on cli-b'));
  assert.equal(local.pools.find((p: { id: string }) => p.id === 'thin').availableBytes, before.thin);
});

for (const kind of ['lvmthin', 'rbd'] as const) {
  const pool = kind === 'lvmthin' ? 'thin' : 'ceph';
  const name = `cli-${pool}-1`;
  const tag = `pv-${pool}`;
  // lvmthin: commands from cli-a through the agent, the volume staged on cli-b. rbd: all on cli-a.
  const admin = (args: string[]) => (kind === 'lvmthin' ? viaAgents(args) : onA(args));
  const stageNode = () => (kind === 'lvmthin' ? b : a);
  const stageDriver = () => (kind === 'lvmthin' ? driverB : driverA);
  const withSecrets = kind === 'rbd';

  test(`${kind}: alloc → NodeStage uses it; path shows the device; free refuses it staged (--force too); info shows snapshots and clones; free after unstage`, async (t) => {
    const nodeFlag = kind === 'lvmthin' ? ['--node', 'cli-b'] : [];
    const v = JSON.parse(ok(await admin(['volumes', 'alloc', '--pool', pool, '--name', name, '--size', '64Mi', ...nodeFlag, '--json']), 'alloc'));
    assert.equal(v.volume_id, `${pool}:${name}`);
    assert.equal(Number(v.capacity_bytes), 64 * MiB);
    if (kind === 'lvmthin') {
      assert.deepEqual(v.accessible_topology, [{ segments: { [TOPOLOGY]: 'cli-b' } }]);
      assert.ok((await lvs(b)).some((l) => l.name === name && l.size === 64 * MiB), 'the LV is on cli-b');
    }
    // Idempotent, as CreateVolume: the same volume again, as a static PV and as a bare id.
    const pv = ok(await admin(['volumes', 'alloc', '--pool', pool, '--name', name, '--size', '64Mi', ...nodeFlag, '--pv']), 'alloc --pv');
    assert.match(pv, new RegExp(`volumeHandle: "${v.volume_id}"`));
    if (kind === 'lvmthin') assert.match(pv, /values: \["cli-b"\]/);
    assert.equal(ok(await admin(['volumes', 'alloc', '--pool', pool, '--name', name, '--size', '64Mi', ...nodeFlag]), 'alloc').trim(), v.volume_id);

    await attach(stageNode(), stageDriver(), v, tag, withSecrets);
    const path = JSON.parse(ok(await poolcsi(stageNode(), ['volumes', 'path', v.volume_id, '--kubelet-dir', KUBELET, '--json']), 'path --json'));
    ok(await poolcsi(stageNode(), ['volumes', 'path', v.volume_id, '--kubelet-dir', KUBELET]), 'path');
    assert.equal(path.stages.length, 1);
    const st = path.stages[0];
    assert.equal(st.state, 'staged');
    assert.equal(st.stagingMounted, true);
    assert.deepEqual(st.published, [targetOf(tag)]);
    assert.equal(st.attached.kind, 'device');
    assert.equal(st.condition.abnormal, false, st.condition.message);
    // The device the kernel has for this volume.
    let device: string;
    if (kind === 'lvmthin') {
      const r = await sh(b, ['lvs', '--noheadings', '-o', 'lv_kernel_major,lv_kernel_minor', `labvg/${name}`]);
      const [maj, min] = r.stdout.trim().split(/\s+/).map(Number);
      device = `${maj!.toString(16)}:${min!.toString(16)}`;
    } else {
      const mapped = JSON.parse((await a.run(['rbd', 'device', 'list', '--format', 'json'])).stdout) as Array<{ name: string; device: string }>;
      const m = mapped.find((d) => d.name.includes(name));
      assert.ok(m, `rbd device list: ${JSON.stringify(mapped)}`);
      device = await devno(a, m.device);
    }
    assert.equal(await devno(stageNode(), st.attached.path), device, `${st.attached.path} is the volume's device`);
    t.diagnostic(`${v.volume_id} staged at ${st.attached.path}`);

    // Staged and published: refused by the command; with --force, by the storage itself.
    refused(await admin(['volumes', 'free', v.volume_id]), 'free', new RegExp(`refusing to free ${v.volume_id}: it is published to ${stageNode().name}`));
    if (kind === 'rbd') refused(await onA(['volumes', 'free', v.volume_id, '--kubelet-dir', KUBELET]), 'free', /published to cli-a/);
    else refused(await poolcsi(b, ['volumes', 'free', v.volume_id, '--kubelet-dir', KUBELET]), 'free on cli-b', /published to cli-b/);
    refused(await admin(['volumes', 'free', v.volume_id, '--force']), 'free --force',
      kind === 'lvmthin' ? /the storage refused to delete it: .*(is open|in use)/ : /the storage refused to delete it: .*in use/);
    assert.equal(JSON.parse(ok(await admin(['volumes', 'info', v.volume_id, '--json']), 'info')).record.sizeBytes, 64 * MiB, 'still there');

    // A snapshot and a restore of it: info shows both sides.
    const s = await must(driverA, 'Controller.CreateSnapshot', { name: `${name}-snap`, source_volume_id: v.volume_id, ...(withSecrets ? { secrets: secrets() } : {}) });
    const restored = await must(driverA, 'Controller.CreateVolume', {
      name: `${name}-restored`, parameters: { pool }, capacity_range: { required_bytes: String(64 * MiB) }, volume_capabilities: [mountCap],
      volume_content_source: { snapshot: { snapshot_id: s.snapshot.snapshot_id } }, ...(withSecrets ? { secrets: secrets() } : {}),
    });
    const info = JSON.parse(ok(await admin(['volumes', 'info', v.volume_id, '--json']), 'info --json'));
    ok(await admin(['volumes', 'info', v.volume_id]), 'info');
    assert.deepEqual(info.snapshots.map((x: { name: string }) => x.name), [`${name}-snap`]);
    assert.deepEqual(info.clones, [`${name}-restored (from @${name}-snap)`]);
    assert.deepEqual(Object.keys(info.record.published ?? {}), [stageNode().name]);
    if (kind === 'lvmthin') assert.equal(info.node, 'cli-b');
    const rinfo = ok(await admin(['volumes', 'info', restored.volume.volume_id]), 'info restored');
    assert.match(rinfo, new RegExp(`^origin\\s+snapshot ${name}@${name}-snap$`, 'm'));

    // Taken down as kubelet does: free goes through, and the volume is gone from the storage.
    await detach(stageNode(), stageDriver(), v.volume_id, tag, withSecrets);
    const gone = await poolcsi(stageNode(), ['volumes', 'path', v.volume_id, '--kubelet-dir', KUBELET]);
    assert.equal(gone.code, 1, 'path: not staged is exit 1');
    assert.match(gone.stdout, /not staged on this node/);
    assert.match(ok(await admin(['volumes', 'free', restored.volume.volume_id]), 'free restored'), /^deleted /);
    await must(driverA, 'Controller.DeleteSnapshot', { snapshot_id: s.snapshot.snapshot_id, ...(withSecrets ? { secrets: secrets() } : {}) });
    assert.equal(ok(await admin(['volumes', 'free', v.volume_id]), 'free').trim(), `deleted ${v.volume_id}`);
    assert.equal(ok(await admin(['volumes', 'free', v.volume_id]), 'free again').trim(), `${v.volume_id}: no such volume (nothing left to delete)`);
    refused(await admin(['volumes', 'info', v.volume_id]), 'info of a freed volume', /not found/);
    if (kind === 'lvmthin') assert.ok(!(await lvs(b)).some((l) => l.name.startsWith(name) || l.name.includes(`${name}-snap`)), 'no LV left on cli-b');
    else assert.ok(!(await a.run(['rbd', 'ls', '-p', 'rbd'])).stdout.includes(name), 'no image left');
  });
}

test('usage errors exit 2; an agent that does not answer is a note, not a crash', async () => {
  for (const args of [['volumes', 'free'], ['volumes', 'alloc', '--pool', 'thin', '--name', 'x'], ['pools', 'status', '--agents', 'cli-b=10.0.0.1:1']]) {
    const r = await poolcsi(a, args);
    assert.equal(r.code, 2, `${args.join(' ')}: rc=${r.code}\n${r.stderr}`);
  }
  const r = await poolcsi(a, ['pools', 'status', '--agents', `cli-b=${LAB_SUBNET}.2:1`, '--agent-tls-dir', pki.controller, '--json']);
  const thin = JSON.parse(ok(r, 'status, agent down')).pools.find((p: { id: string }) => p.id === 'thin');
  assert.equal(thin.reachable, false);
  assert.match(thin.notes.join('\n'), /cli-b: unreachable: agent on node cli-b is unreachable/);
});
