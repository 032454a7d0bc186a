// The nfs pool on the storage set: kernel nfsd on the storage host exporting /srv/nfs, the
// controller (`serve --mode controller`, its own mount of the export) and a node plugin
// (`--mode node`) on worker-1, a node plugin on worker-2. What csi-sanity cannot show:
//   - RWX filesystem: one volume mounted on both workers, written on one, read on the other,
//     and the data is a directory on the server's export
//   - block volumes are refused with the reason
//   - temp state copies of killed writes are swept by the retried call
//   - the server unreachable: CreateVolume and GetCapacity answer UNAVAILABLE within the
//     pool's timeoutSeconds; VolumeCondition is abnormal; NodeUnpublish/NodeUnstage complete
//   - median CreateVolume next to a bare mkdir on the mounted export, same run
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startDriver, startLab, storageSet, type Lab, type LabNode, type NodeDriver } from './harness/index.js';
import { must, refused, settled, writeIn } from './rbd-support.js';
import { BENCH_MAIN, formatBench, type NfsBenchResult } from '../bench/nfs-create.js';

const POOLS = '/run/lab/nfs/pools.yaml';
const TIMEOUT_S = 5;
const RWX = { access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} };

let lab: Lab | undefined;
let storage: LabNode;
let worker1: LabNode;
let worker2: LabNode;
let controller: NodeDriver;
let w1: NodeDriver;
let w2: NodeDriver;

before(async () => {
  lab = await startLab(storageSet('nfs-cluster', { storage: ['nfs'], workers: [] }));
  storage = lab.node('storage');
  worker1 = lab.node('worker-1');
  worker2 = lab.node('worker-2');
  const pools = `pools:\n  - id: shared\n    type: nfs\n    server: ${storage.ip}\n    export: /srv/nfs\n    options: [vers=4.2]\n    timeoutSeconds: ${TIMEOUT_S}\n`;
  for (const n of [worker1, worker2]) await writeIn(n, POOLS, pools);
  // Controller and node plugin keep separate mount directories, as separate pods would.
  controller = await startDriver(worker1, {
    mode: 'controller', nodeId: 'worker-1', poolsFile: POOLS, socket: '/run/lab/csi/controller.sock',
    env: { POOLCSI_NFS_MOUNT_DIR: '/run/lab/controller-nfs' }, logName: 'poolcsi-controller.log',
  });
  w1 = await startDriver(worker1, { mode: 'node', nodeId: 'worker-1', poolsFile: POOLS, logName: 'poolcsi-node.log' });
  w2 = await startDriver(worker2, { mode: 'node', nodeId: 'worker-2', poolsFile: POOLS, logName: 'poolcsi-node.log' });
});

after(async () => {
  await lab?.close();
});

async function create(name: string): Promise<{ id: string; context: Record<string, string> }> {
  const r = await settled(controller, 'Controller.CreateVolume', {
    name, capacity_range: { required_bytes: String(64 * 1024 * 1024) }, volume_capabilities: [RWX], parameters: { pool: 'shared' },
  });
  return { id: r.volume.volume_id as string, context: r.volume.volume_context as Record<string, string> };
}

/** How long the driver itself took to fail its last `method` call (its log's "ms"). */
function driverMs(logFile: string, method: string): number {
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"failed"') && l.includes(`"method":"${method}"`));
  const last = lines.pop();
  assert.ok(last, `no failed ${method} in ${logFile}`);
  return (JSON.parse(last) as { ms: number }).ms;
}

const paths = (tag: string) => ({ staging: `/run/lab/k/${tag}/staging`, target: `/run/lab/k/${tag}/target` });

async function attach(d: NodeDriver, node: LabNode, id: string, context: Record<string, string>, tag: string): Promise<string> {
  const { staging, target } = paths(tag);
  await node.run(['mkdir', '-p', staging]);
  await settled(controller, 'Controller.ControllerPublishVolume', { volume_id: id, node_id: node.name, volume_capability: RWX });
  await settled(d, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: RWX, volume_context: context });
  await settled(d, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: RWX });
  return target;
}

async function detach(d: NodeDriver, id: string, tag: string): Promise<void> {
  const { staging, target } = paths(tag);
  await must(d, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: target });
  await must(d, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
}

/**
 * Volume mounts of the storage host a node has (from its mount table, never touching them);
 * the export mounts through which a driver reads volume state are not volume mounts.
 */
async function volumeMounts(node: LabNode, volume: string): Promise<string[]> {
  const r = await node.run(['cat', '/proc/self/mountinfo']);
  return r.stdout.split('\n').filter((l) => / - nfs4? /.test(l) && l.includes(` ${storage.ip}:/srv/nfs/${volume} `));
}

test('RWX filesystem: one volume on both workers, written on one, read on the other, a directory on the export', async () => {
  const { id, context } = await create('rwx-1');
  assert.equal(context.transport, 'nfs');
  assert.equal(context['nfs.server'], storage.ip);
  assert.equal(context['nfs.export'], '/srv/nfs/rwx-1');
  assert.equal(context['nfs.sizeEnforced'], 'false');
  const t1 = await attach(w1, worker1, id, context, 'rwx');
  const t2 = await attach(w2, worker2, id, context, 'rwx');
  await worker1.run(['tee', `${t1}/hello`], { input: 'written on worker-1\n' });
  assert.equal((await worker2.run(['cat', `${t2}/hello`])).stdout, 'written on worker-1\n');
  await worker2.run(['tee', `${t2}/back`], { input: 'and worker-2 answers\n' });
  assert.equal((await worker1.run(['cat', `${t1}/back`])).stdout, 'and worker-2 answers\n');
  assert.equal((await storage.run(['cat', '/srv/nfs/rwx-1/hello'])).stdout, 'written on worker-1\n');
  // The state lives apart from every volume directory.
  assert.equal((await storage.run(['test', '-f', '/srv/nfs/.poolcsi/volumes/rwx-1.json'])).code, 0);
  await detach(w1, id, 'rwx');
  await detach(w2, id, 'rwx');
  assert.deepEqual(await volumeMounts(worker2, 'rwx-1'), [], 'worker-2 keeps no mount of the volume');
  await settled(controller, 'Controller.DeleteVolume', { volume_id: id });
  assert.notEqual((await storage.exec(['test', '-e', '/srv/nfs/rwx-1'])).code, 0, 'the directory is gone');
});

test("a state copy left by a write killed mid-way is removed by the retried call", async () => {
  // What a write killed between its temp file and the rename leaves (statefile's `<file>.<hex>.tmp`).
  const temp = '/srv/nfs/.poolcsi/volumes/swept-1.json.0badc0de.tmp';
  await storage.run(['mkdir', '-p', '/srv/nfs/.poolcsi/volumes']);
  await storage.run(['tee', temp], { input: '{"half":' });
  const { id } = await create('swept-1');
  assert.notEqual((await storage.exec(['test', '-e', temp])).code, 0, 'the create swept the temp copy');
  await storage.run(['tee', temp], { input: '{"half":' });
  await settled(controller, 'Controller.DeleteVolume', { volume_id: id });
  assert.notEqual((await storage.exec(['test', '-e', temp])).code, 0, 'the delete swept the temp copy');
  assert.notEqual((await storage.exec(['test', '-e', '/srv/nfs/.poolcsi/volumes/swept-1.json'])).code, 0);
});

test('block volumes are refused with the reason', async () => {
  const r = await refused(controller, 'Controller.CreateVolume', {
    name: 'blk', volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} }], parameters: { pool: 'shared' },
  });
  assert.equal(r.code, 'INVALID_ARGUMENT');
  assert.match(r.details, /serves filesystem volumes, not block: an nfs pool serves directories/);
});

test('median CreateVolume next to a bare mkdir on the mounted export (same run, interleaved)', async (t) => {
  await worker1.run(['mkdir', '-p', '/mnt/bare']);
  await worker1.run(['mount', '-t', 'nfs', '-o', 'vers=4.2', `${storage.ip}:/srv/nfs`, '/mnt/bare'], { timeoutMs: 60_000 });
  try {
    const r = await worker1.run([process.execPath, BENCH_MAIN, '--inside', controller.socket, '--bare', '/mnt/bare', '--rounds', '15'], { timeoutMs: 15 * 60_000 });
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as NfsBenchResult;
    for (const line of formatBench(res, 'NFSv4.2, controller on worker-1, server on the storage host')) t.diagnostic(line);
    assert.equal(res.driver.length, 15);
  } finally {
    await worker1.run(['umount', '/mnt/bare']);
  }
});

test('server unreachable: UNAVAILABLE within the timeout, condition abnormal, unpublish and unstage still finish', async (t) => {
  const { id, context } = await create('down-1');
  const target = await attach(w1, worker1, id, context, 'down');
  await worker1.run(['tee', `${target}/data`], { input: 'kept\n' });
  const healthy = await must(w1, 'Node.NodeGetVolumeStats', { volume_id: id, volume_path: target });
  assert.equal(healthy.volume_condition.abnormal, false, healthy.volume_condition.message);

  await storage.run(['ip', 'link', 'set', 'dev', 'eth0', 'down']);
  try {
    // The driver's own answer time is in its log ("ms"); csi-call adds a node process start in
    // the UML node (1-10 s on a loaded host), so the client-side time only guards against a hang.
    const c = await refused(controller, 'Controller.CreateVolume', {
      name: 'down-2', capacity_range: { required_bytes: '1048576' }, volume_capabilities: [RWX], parameters: { pool: 'shared' },
    });
    const cMs = driverMs(controller.logFile, 'Controller.CreateVolume');
    t.diagnostic(`CreateVolume with the server unreachable: ${c.code} after ${cMs} ms in the driver (${c.ms} ms at the client): ${c.details}`);
    assert.equal(c.code, 'UNAVAILABLE');
    assert.ok(cMs <= TIMEOUT_S * 1000 + 500, `the driver answered after ${cMs} ms`);
    assert.ok(c.ms < TIMEOUT_S * 1000 + 30_000, `answered after ${c.ms} ms`);
    const g = await refused(controller, 'Controller.GetCapacity', { parameters: { pool: 'shared' } });
    const gMs = driverMs(controller.logFile, 'Controller.GetCapacity');
    t.diagnostic(`GetCapacity with the server unreachable: ${g.code} after ${gMs} ms in the driver (${g.ms} ms at the client)`);
    assert.equal(g.code, 'UNAVAILABLE');
    assert.ok(gMs <= TIMEOUT_S * 1000 + 500, `the driver answered after ${gMs} ms`);
    assert.ok(g.ms < TIMEOUT_S * 1000 + 30_000, `answered after ${g.ms} ms`);

    const started = Date.now();
    const stats = await must(w1, 'Node.NodeGetVolumeStats', { volume_id: id, volume_path: target });
    t.diagnostic(`VolumeCondition after ${Date.now() - started} ms: ${JSON.stringify(stats.volume_condition)}`);
    assert.equal(stats.volume_condition.abnormal, true);

    const u = Date.now();
    await detach(w1, id, 'down');
    t.diagnostic(`NodeUnpublish + NodeUnstage with the server unreachable: ${Date.now() - u} ms`);
    assert.deepEqual(await volumeMounts(worker1, 'down-1'), [], 'no mount of the volume is left behind');
  } finally {
    await storage.run(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  }
  // Nothing was deleted behind the dead mount.
  assert.equal((await storage.run(['cat', '/srv/nfs/down-1/data'])).stdout, 'kept\n');
});
