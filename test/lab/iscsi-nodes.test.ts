// An `iscsi` pool seen from two worker nodes (issue 14): a storage node runs LIO and the
// controller (`local: true`), two workers run open-iscsi and the node plugin. RWX block: one
// LUN staged on both workers at once, a write on one read on the other; unstaging on one
// leaves the other reading; a node plugin restarted with two volumes staged finds its sessions
// in sysfs and logs out only the one whose last LUN is unstaged; the storage host cut off,
// a stage answers UNAVAILABLE within its bounded login and a retry works once it is back.
// Multipath: a pool with two portals (two addresses of the storage node) gives the workers one
// dm-multipath map of two paths, kept by the node's multipathd; a write goes on with a path cut,
// an expand reaches the map, and the unstage leaves no map, session or WWID behind.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { NODE_ENV, startDriver, startLab, storageSet, type Lab, type LabNode, type NodeDriver } from './harness/index.js';
import { DRIVER_MAIN } from './harness/driver.js';
import { must, writeIn } from './rbd-support.js';

const POOLS = '/run/lab/iscsi/pools.yaml';
const RWX_BLOCK = { access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, block: {} };
const RWO_BLOCK = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} };
/** iSCSI sessions, their disks, and the multipath maps holding them, as "F path=content" and
 * "D directory" lines (the format of the unit tests' recorded sysfs trees). */
const RECORD_SYSFS = [
  'for s in /sys/class/iscsi_session/session*; do',
  '  for f in targetname initiatorname ifacename state; do echo "F $s/$f=$(cat $s/$f)"; done',
  '  for c in $s/device/connection*; do n=${c##*/}; echo "D $c"; for f in persistent_address persistent_port; do echo "F /sys/class/iscsi_connection/$n/$f=$(cat /sys/class/iscsi_connection/$n/$f)"; done; done',
  '  for l in $s/device/target*/*:*:*:*; do for b in $l/block/*; do echo "D $b"; d=${b##*/};',
  '    echo "F $l/state=$(cat $l/state)"; echo "F /sys/block/$d/device/wwid=$(cat /sys/block/$d/device/wwid)";',
  '    for h in /sys/block/$d/holders/*; do [ -e "$h" ] && echo "D $h"; done; done; done',
  'done',
  'for m in /sys/block/dm-*; do [ -e "$m" ] || continue; echo "F $m/dm/name=$(cat $m/dm/name)"; echo "F $m/dm/uuid=$(cat $m/dm/uuid)"; for x in $m/slaves/*; do echo "D $x"; done; done',
].join('\n');
/** The storage node's second address: the second portal of pool san-mp. */
const SECOND_IP = '192.168.77.101';

let lab: Lab | undefined;
let storage: LabNode;
let workers: LabNode[];
let controller: NodeDriver;
const plugins = new Map<string, NodeDriver>();

const AGENT_PORT = 9825;
let pki: AgentPki;

// The node plugins listen for the controller as the chart's do: the controller's agent list is
// the set of nodes it knows (a publish to any other is NOT_FOUND).
const startPlugin = async (w: LabNode) => plugins.set(w.name, await startDriver(w, {
  mode: 'node', nodeId: w.name, poolsFile: POOLS, logName: 'poolcsi-node.log',
  args: ['--agent-listen', `0.0.0.0:${AGENT_PORT}`, '--agent-tls-dir', pki.agent],
}));

before(async () => {
  lab = await startLab(storageSet('iscsi-nodes', { storage: ['lvm', 'iscsi-target'], workers: ['iscsi-initiator', 'multipath'] }));
  storage = lab.node('storage');
  workers = [lab.node('worker-1'), lab.node('worker-2')];
  await storage.run(['ip', 'addr', 'add', `${SECOND_IP}/24`, 'dev', 'eth0']);
  const san = { type: 'iscsi', iqnPrefix: 'iqn.2003-01.org.example.lab', backing: { type: 'lvmthin', vgname: 'labvg', thinpool: 'thin' }, local: true };
  const pools = JSON.stringify({
    pools: [
      { id: 'san', portals: [`${storage.ip}:3260`], ...san },
      { id: 'san-mp', portals: [`${storage.ip}:3260`, `${SECOND_IP}:3260`], ...san },
    ],
  });
  for (const n of [storage, ...workers]) await writeIn(n, POOLS, pools);
  pki = await makeAgentPki(join(storage.runDir, 'pki'));
  controller = await startDriver(storage, {
    mode: 'controller', nodeId: 'storage', poolsFile: POOLS, socket: '/run/lab/csi/controller.sock', logName: 'poolcsi-controller.log',
    args: ['--agents', workers.map((w) => `${w.name}=${w.ip}:${AGENT_PORT}`).join(','), '--agent-tls-dir', pki.controller],
  });
  for (const w of workers) await startPlugin(w);
});

after(async () => {
  await lab?.close();
});

interface Vol { id: string; context: Record<string, string>; target: string; published: Map<string, Record<string, string>> }

async function create(name: string, cap: object, pool = 'san'): Promise<Vol> {
  const r = await must(controller, 'Controller.CreateVolume', {
    name, capacity_range: { required_bytes: String(32 * 1024 * 1024) }, volume_capabilities: [cap], parameters: { pool },
  });
  return { id: r.volume.volume_id, context: r.volume.volume_context, target: r.volume.volume_context['iscsi.target'], published: new Map() };
}

const staging = (v: Vol) => `/run/lab/k/${v.id.replace(/[^a-z0-9-]/gi, '_')}/staging`;
const device = (v: Vol) => `/run/lab/k/${v.id.replace(/[^a-z0-9-]/gi, '_')}/dev`;

async function attach(v: Vol, w: LabNode, cap: object): Promise<void> {
  const pub = await must(controller, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: w.name, volume_capability: cap, volume_context: v.context });
  v.published.set(w.name, pub.publish_context);
  await w.run(['mkdir', '-p', staging(v)]);
  const p = plugins.get(w.name)!;
  await must(p, 'Node.NodeStageVolume', { volume_id: v.id, staging_target_path: staging(v), volume_capability: cap, volume_context: v.context, publish_context: pub.publish_context });
  await must(p, 'Node.NodePublishVolume', { volume_id: v.id, staging_target_path: staging(v), target_path: device(v), volume_capability: cap, publish_context: pub.publish_context });
}

async function detach(v: Vol, w: LabNode): Promise<void> {
  const p = plugins.get(w.name)!;
  await must(p, 'Node.NodeUnpublishVolume', { volume_id: v.id, target_path: device(v) });
  await must(p, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: staging(v) });
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: w.name });
}

/** sha256 of the first MiB, read past the page cache. */
async function firstMiB(w: LabNode, v: Vol): Promise<string> {
  return (await w.run(['sh', '-c', 'dd if="$1" bs=1M count=1 iflag=direct status=none | sha256sum', 'sh', device(v)])).stdout.split(' ')[0]!;
}

async function sessions(w: LabNode): Promise<string[]> {
  const r = await w.exec(['sh', '-c', 'cat /sys/class/iscsi_session/session*/targetname 2>/dev/null']);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('RWX block: one LUN on two nodes at once, written on one and read on the other; unstaging one leaves the other', async () => {
  const v = await create('shared-1', RWX_BLOCK);
  const [w1, w2] = workers as [LabNode, LabNode];
  await attach(v, w1, RWX_BLOCK);
  await attach(v, w2, RWX_BLOCK);
  assert.notEqual(v.published.get('worker-1')!.initiator, v.published.get('worker-2')!.initiator, 'each node has its own initiator name in the ACL');
  const written = (await w1.run(['sh', '-c', 'head -c 1048576 /dev/urandom > /run/lab/pattern && dd if=/run/lab/pattern of="$1" bs=1M oflag=direct status=none && sha256sum /run/lab/pattern', 'sh', device(v)])).stdout.split(' ')[0]!;
  assert.equal(await firstMiB(w2, v), written, 'worker-2 reads what worker-1 wrote');
  await detach(v, w1);
  assert.deepEqual(await sessions(w1), [], 'worker-1 logged out: its last LUN on the target is gone');
  assert.equal(await firstMiB(w2, v), written, 'worker-2 still reads after worker-1 unstaged');
  await detach(v, w2);
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});

test('ControllerPublish to a node the controller does not know is NOT_FOUND, and grants nothing', async () => {
  const v = await create('nodes-unknown', RWO_BLOCK);
  const r = await controller.call('Controller.ControllerPublishVolume', { volume_id: v.id, node_id: 'worker-9', volume_capability: RWO_BLOCK, volume_context: v.context });
  assert.equal(r.ok, false);
  assert.equal(r.ok ? '' : r.code, 5, `NOT_FOUND (5) expected: ${JSON.stringify(r)}`);
  // The first publish exports: one refused before any change leaves the volume on no network.
  const target = await storage.exec(['ls', `/sys/kernel/config/target/iscsi/${v.target}`]);
  assert.notEqual(target.code, 0, `no target, so no ACL, was made: ${target.stdout}`);
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});

test('poolcsi scan iscsi lists a target\'s LUN with size and SCSI id: logging in and out where there is no session, reading the one there is, and saying why a node not admitted sees nothing', async () => {
  const v = await create('nodes-scan', RWO_BLOCK);
  const [w1, w2] = workers as [LabNode, LabNode];
  const scan = async (w: LabNode) => {
    const r = await w.run([process.execPath, DRIVER_MAIN, 'scan', 'iscsi', '--portal', `${storage.ip}:3260`, '--target', v.target, '--node-id', w.name, '--json'], { env: NODE_ENV });
    return JSON.parse(r.stdout) as { targets: Array<{ target: string; luns?: Array<{ lun: number; sizeBytes: number; wwid: string }>; error?: string }> };
  };
  const records = async (w: LabNode) => (await w.exec(['ls', `/etc/iscsi/nodes/${v.target}`])).stdout.trim();
  const pub = await must(controller, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: w1.name, volume_capability: RWO_BLOCK, volume_context: v.context });
  v.published.set(w1.name, pub.publish_context);

  const cold = await scan(w1);
  assert.equal(cold.targets.length, 1);
  const lun = cold.targets[0]!.luns?.[0];
  assert.ok(lun, `LUN 0 listed: ${JSON.stringify(cold)}`);
  assert.equal(lun.lun, 0);
  assert.equal(lun.sizeBytes, 32 * 1024 * 1024);
  assert.match(lun.wwid, /^naa\.6001405/, 'LIO\'s NAA SCSI id');
  assert.deepEqual(await sessions(w1), [], 'the scan logged out of the session it made');
  assert.equal(await records(w1), '', 'and left no node record');

  const denied = await scan(w2);
  assert.equal(denied.targets[0]?.luns, undefined);
  assert.match(denied.targets[0]?.error ?? '', /refused the login/, 'a node not in the ACL is told why it sees no LUN');

  await w1.run(['mkdir', '-p', staging(v)]);
  await must(plugins.get(w1.name)!, 'Node.NodeStageVolume', { volume_id: v.id, staging_target_path: staging(v), volume_capability: RWO_BLOCK, volume_context: v.context, publish_context: pub.publish_context });
  const disk = JSON.parse((await w1.run(['cat', `${staging(v)}/poolcsi-stage.json`])).stdout).attached.stash.disk as string;
  const warm = await scan(w1);
  assert.equal(warm.targets[0]?.luns?.[0]?.wwid, (await w1.run(['cat', `/sys/block/${disk}/device/wwid`])).stdout.trim(), 'the SCSI id is the staged disk\'s');
  assert.deepEqual(await sessions(w1), [v.target], 'the scan left the volume\'s own session alone');
  await must(plugins.get(w1.name)!, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: staging(v) });
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: w1.name });
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});

test('a restarted node plugin finds its sessions in sysfs, clears the iscsiadm lock its killed predecessor left, and logs out only the target whose LUN is unstaged', async () => {
  const w = workers[1]!;
  const a = await create('restart-a', RWO_BLOCK);
  const b = await create('restart-b', RWO_BLOCK);
  await attach(a, w, RWO_BLOCK);
  await attach(b, w, RWO_BLOCK);
  assert.deepEqual(await sessions(w), [a.target, b.target].sort());
  const before = await firstMiB(w, b);

  await plugins.get(w.name)!.stop();
  // What an iscsiadm killed with its plugin leaves: iscsiadm's record lock. Left alone, the next
  // iscsiadm (the logout below) would wait 60 s for it.
  await w.run(['sh', '-c', 'mkdir -p /run/lock/iscsi && touch /run/lock/iscsi/lock && ln /run/lock/iscsi/lock /run/lock/iscsi/lock.write']);
  await startPlugin(w);
  const t0 = Date.now();
  await detach(a, w);
  assert.ok(Date.now() - t0 < 40_000, `the unstage took ${Date.now() - t0} ms: the stale lock was waited out`);
  assert.equal((await w.exec(['test', '-e', '/run/lock/iscsi/lock.write'])).code, 1, 'the stale lock is gone');
  assert.deepEqual(await sessions(w), [b.target], 'only the unstaged volume\'s session ended');
  assert.equal(await firstMiB(w, b), before, 'the other volume still reads');
  await detach(b, w);
  assert.deepEqual(await sessions(w), []);
  for (const v of [a, b]) await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
  const left = (await storage.run(['sh', '-c', 'ls /sys/kernel/config/target/iscsi | grep "^iqn" || true'])).stdout.trim();
  assert.equal(left, '', 'no target left on the storage host');
});

test('the storage host unreachable: NodeStage is UNAVAILABLE within the bounded login, and a retry works once it is back', async () => {
  const w = workers[0]!;
  const v = await create('outage-1', RWO_BLOCK);
  const pub = await must(controller, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: w.name, volume_capability: RWO_BLOCK, volume_context: v.context });
  await w.run(['mkdir', '-p', staging(v)]);
  const stage = { volume_id: v.id, staging_target_path: staging(v), volume_capability: RWO_BLOCK, volume_context: v.context, publish_context: pub.publish_context };
  const plugin = plugins.get(w.name)!;
  await storage.run(['ip', 'link', 'set', 'dev', 'eth0', 'down']);
  let failed: Awaited<ReturnType<NodeDriver['call']>>;
  const started = Date.now();
  try {
    failed = await plugin.call('Node.NodeStageVolume', stage);
  } finally {
    await storage.run(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  }
  const ms = Date.now() - started;
  assert.ok(!failed.ok && failed.code === 14, `UNAVAILABLE while the target is unreachable: ${JSON.stringify(failed)}`);
  // open-iscsi's defaults (8 attempts of 15 s) would take 2 minutes; the record allows 2.
  assert.ok(ms < 75_000, `answered in ${ms} ms`);
  assert.deepEqual(await sessions(w), []);
  await must(plugin, 'Node.NodeStageVolume', stage);
  assert.deepEqual(await sessions(w), [v.target], 'the retry logged in, without a restart');
  await must(plugin, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: staging(v) });
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: w.name });
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});

test('multipath: a LUN over two portals is one dm-multipath map of two paths; a write goes on with a path cut; an expand reaches the map; the unstage flushes it and logs out of both', async () => {
  const w = workers[0]!;
  const v = await create('mpath-1', RWO_BLOCK, 'san-mp');
  assert.equal(v.context['iscsi.portals'], `${storage.ip}:3260,${SECOND_IP}:3260`);
  await attach(v, w, RWO_BLOCK);
  const attached = JSON.parse((await w.run(['cat', `${staging(v)}/poolcsi-stage.json`])).stdout).attached as { path: string; stash: Record<string, string> };
  assert.match(attached.path, /^\/dev\/dm-[0-9]+$/, `the volume is the map, not a path: ${JSON.stringify(attached)}`);
  const dm = basename(attached.path);
  const slaves = (await w.run(['ls', `/sys/block/${dm}/slaves`])).stdout.split('\n').filter(Boolean);
  assert.equal(slaves.length, 2, `two paths under ${dm}: ${slaves.join(' ')}`);
  assert.deepEqual(await sessions(w), [v.target, v.target], 'one session per portal');
  assert.match((await w.run(['multipathd', 'show', 'maps'])).stdout, new RegExp(attached.stash.map!), 'multipathd keeps the map');
  // The sysfs the node side reads, kept with the logs (test/fixtures/iscsi/sysfs-multipath.txt is one).
  writeFileSync(join(w.logDir, 'sysfs-multipath.txt'), (await w.run(['sh', '-c', RECORD_SYSFS])).stdout);

  await must(controller, 'Controller.ControllerExpandVolume', { volume_id: v.id, capacity_range: { required_bytes: String(48 * 1024 * 1024) }, volume_capability: RWO_BLOCK });
  await must(plugins.get(w.name)!, 'Node.NodeExpandVolume', { volume_id: v.id, volume_path: device(v), staging_target_path: staging(v), capacity_range: { required_bytes: String(48 * 1024 * 1024) }, volume_capability: RWO_BLOCK });
  assert.equal(Number((await w.run(['blockdev', '--getsize64', device(v)])).stdout.trim()), 48 * 1024 * 1024, 'the map has the new size');

  // The second portal cut off from this worker only: the write fails over to the first path.
  await w.run(['ip', 'route', 'add', 'blackhole', `${SECOND_IP}/32`]);
  let written: string;
  const t0 = Date.now();
  try {
    written = (await w.run(['sh', '-c', 'head -c 1048576 /dev/urandom > /run/lab/mp-pattern && dd if=/run/lab/mp-pattern of="$1" bs=64k oflag=direct status=none && sha256sum /run/lab/mp-pattern', 'sh', device(v)], { timeoutMs: 120_000 })).stdout.split(' ')[0]!;
  } finally {
    await w.run(['ip', 'route', 'del', 'blackhole', `${SECOND_IP}/32`]);
  }
  const failover = Date.now() - t0;
  assert.equal(await firstMiB(w, v), written, `the write went through on the path left (${failover} ms)`);
  process.stdout.write(`BENCH iscsi multipath: a 1 MiB direct write with one of two paths cut took ${failover} ms (the path's failure detected by iSCSI's NOP-outs, then dm-multipath fails over)\n`);

  await detach(v, w);
  assert.equal((await w.run(['dmsetup', 'ls', '--target', 'multipath'])).stdout.trim(), 'No devices found', 'the map was flushed');
  assert.deepEqual(await sessions(w), [], 'both sessions logged out');
  const wwids = (await w.exec(['cat', '/etc/multipath/wwids'])).stdout;
  assert.ok(!wwids.includes(`/${attached.stash.map}/`), `the WWID was forgotten: ${wwids}`);
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});

/** The driver's own time for its last successful `method` (its log's "ms"). */
function driverMs(logFile: string, method: string): number {
  const last = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"done"') && l.includes(`"method":"${method}"`)).pop();
  assert.ok(last, `no ${method} in ${logFile}`);
  return (JSON.parse(last) as { ms: number }).ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('measured: NodeStage next to a bare iscsiadm login plus the wait for the disk, same target, same run', async (t) => {
  const w = workers[0]!;
  const v = await create('bench-1', RWO_BLOCK);
  const pub = await must(controller, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: w.name, volume_capability: RWO_BLOCK, volume_context: v.context });
  await w.run(['mkdir', '-p', staging(v)]);
  const plugin = plugins.get(w.name)!;
  const stage = { volume_id: v.id, staging_target_path: staging(v), volume_capability: RWO_BLOCK, volume_context: v.context, publish_context: pub.publish_context };
  const portal = v.context['iscsi.portals']!;
  // The bare way, timed inside the node: login, then poll sysfs for LUN 0's disk; logout.
  const bare = ['sh', '-c', [
    'iscsiadm -m node -T "$1" -p "$2" -I poolcsi -o new >/dev/null',
    't0=$(date +%s%N)',
    'iscsiadm -m node -T "$1" -p "$2" -I poolcsi --login >/dev/null',
    'until ls /sys/class/iscsi_session/session*/device/target*/*:0:0:0/block 2>/dev/null | grep -q .; do sleep 0.02; done',
    't1=$(date +%s%N)',
    'iscsiadm -m node -T "$1" -p "$2" -I poolcsi --logout >/dev/null && iscsiadm -m node -T "$1" -p "$2" -I poolcsi -o delete',
    'echo $(( (t1 - t0) / 1000000 ))',
  ].join('\n'), 'sh', v.target, portal];
  const driver: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < 5; i++) {
    await must(plugin, 'Node.NodeStageVolume', stage);
    driver.push(driverMs(plugin.logFile, 'Node.NodeStageVolume'));
    await must(plugin, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: staging(v) });
    plain.push(Number((await w.run(bare)).stdout.trim().split('\n').pop()));
  }
  const line = `iscsi NodeStage median ${median(driver)} ms (${driver.join(', ')}) vs bare iscsiadm --login + disk wait median ${median(plain)} ms (${plain.join(', ')}): ratio ${(median(driver) / median(plain)).toFixed(2)}`;
  t.diagnostic(line);
  process.stdout.write(`BENCH ${line}\n`);
  assert.ok(plain.every((x) => x > 0), 'the bare login found the disk');
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: w.name });
  await must(controller, 'Controller.DeleteVolume', { volume_id: v.id });
});
