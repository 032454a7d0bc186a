// The nfs pool with its server agent (SSH to the NFS server, pinned host key): the storage host
// exports /srv/nfs from XFS with project quota enforced; the controller and a node plugin run
// on worker-1. What this shows, against the real kernel and xfs_quota:
//   - a volume's size is enforced: writing past it fails (ENOSPC/EDQUOT) on the client; after
//     ControllerExpandVolume the same write succeeds
//   - DeleteVolume removes the directory and lifts the project's limit on the server
//   - a snapshot of a 256 MiB volume: reflink on the server (pool "fast") vs a copy through the
//     mount (pool "slow"), times side by side; the reflink copy takes no space; a restore to a
//     larger size holds the data and gets the larger limit
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { startDriver, startLab, storageSet, type Lab, type LabNode, type NodeDriver } from './harness/index.js';
import { must, settled, writeIn } from './rbd-support.js';

const POOLS = '/run/lab/nfs/pools.yaml';
const MiB = 1024 * 1024;
const RWX = { access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} };

let lab: Lab | undefined;
let storage: LabNode;
let worker: LabNode;
let controller: NodeDriver;
let node: NodeDriver;

before(async () => {
  lab = await startLab(storageSet('nfs-agent', {
    storage: ['nfs', 'sshd'], workers: [], workerCount: 1, env: { LAB_NFS_EXPORT_FS: 'xfs', LAB_NFS_EXPORT_SIZE: '2G' },
  }));
  storage = lab.node('storage');
  worker = lab.node('worker-1');
  await storage.run(['mkdir', '-p', '/srv/nfs/fast', '/srv/nfs/slow']);
  const hostKey = (await storage.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
  const key = (await worker.run(['sh', '-c', 'echo "$LAB_SHARED_DIR/ssh/id_ed25519"'])).stdout.trim();
  const pool = (id: string, snapshots: string) => ({
    id, type: 'nfs', server: storage.ip, export: `/srv/nfs/${id}`, options: ['vers=4.2'], timeoutSeconds: 10,
    serverAgent: { ssh: { host: storage.ip, privateKey: { file: key }, hostKey }, quota: 'xfs-project', snapshots },
  });
  // JSON is YAML: the host key line needs no quoting.
  await writeIn(worker, POOLS, JSON.stringify({ pools: [pool('fast', 'reflink'), pool('slow', 'copy')] }));
  controller = await startDriver(worker, {
    mode: 'controller', nodeId: 'worker-1', poolsFile: POOLS, socket: '/run/lab/csi/controller.sock',
    env: { POOLCSI_NFS_MOUNT_DIR: '/run/lab/controller-nfs' }, logName: 'poolcsi-controller.log',
  });
  node = await startDriver(worker, { mode: 'node', nodeId: 'worker-1', poolsFile: POOLS, logName: 'poolcsi-node.log' });
});

after(async () => {
  await lab?.close();
});

async function create(pool: string, name: string, bytes: number, source?: object): Promise<{ id: string; context: Record<string, string> }> {
  const r = await settled(controller, 'Controller.CreateVolume', {
    name, capacity_range: { required_bytes: String(bytes) }, volume_capabilities: [RWX], parameters: { pool },
    ...(source ? { volume_content_source: source } : {}),
  });
  return { id: r.volume.volume_id as string, context: r.volume.volume_context as Record<string, string> };
}

async function attach(id: string, context: Record<string, string>, tag: string): Promise<string> {
  const staging = `/run/lab/k/${tag}/staging`;
  const target = `/run/lab/k/${tag}/target`;
  await worker.run(['mkdir', '-p', staging]);
  await must(controller, 'Controller.ControllerPublishVolume', { volume_id: id, node_id: 'worker-1', volume_capability: RWX });
  await must(node, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: RWX, volume_context: context });
  await must(node, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: RWX });
  return target;
}

async function detach(id: string, tag: string): Promise<void> {
  await must(node, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: `/run/lab/k/${tag}/target` });
  await must(node, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: `/run/lab/k/${tag}/staging` });
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: id, node_id: 'worker-1' });
}

/** The project's hard block limit in KiB from `xfs_quota report` on the server (0 = none). */
async function limitKiB(project: number): Promise<number> {
  const r = await storage.run(['xfs_quota', '-x', '-c', 'report -p -b -N', '/srv/nfs']);
  const row = r.stdout.split('\n').find((l) => l.startsWith(`#${project} `));
  return row ? Number(row.trim().split(/\s+/)[3]) : 0;
}

async function projectOf(pool: string, name: string): Promise<number> {
  const state = JSON.parse((await storage.run(['cat', `/srv/nfs/${pool}/.poolcsi/volumes/${name}.json`])).stdout) as { projectId?: number };
  assert.ok(state.projectId, `${name} has a project id`);
  return state.projectId;
}

async function usedBytes(): Promise<number> {
  const [blocks, free, size] = (await storage.run(['stat', '-f', '-c', '%b %f %S', '/srv/nfs'])).stdout.trim().split(' ').map(Number);
  return (blocks! - free!) * size!;
}

test('sizes are enforced: a write past the size fails, after expand it succeeds; delete lifts the limit', async () => {
  const { id, context } = await create('fast', 'quota-1', 64 * MiB);
  assert.equal(context['nfs.sizeEnforced'], 'true');
  const project = await projectOf('fast', 'quota-1');
  assert.equal(await limitKiB(project), 64 * 1024);
  const target = await attach(id, context, 'quota');
  await worker.run(['dd', 'if=/dev/zero', `of=${target}/a`, 'bs=1M', 'count=48', 'conv=fsync']);
  const past = await worker.exec(['dd', 'if=/dev/zero', `of=${target}/b`, 'bs=1M', 'count=32', 'conv=fsync']);
  assert.notEqual(past.code, 0, 'writing past the size must fail');
  assert.match(past.stderr, /No space left on device|Disk quota exceeded/);
  await worker.run(['rm', '-f', `${target}/b`]);
  await must(controller, 'Controller.ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: String(128 * MiB) } });
  assert.equal(await limitKiB(project), 128 * 1024);
  await worker.run(['dd', 'if=/dev/zero', `of=${target}/b`, 'bs=1M', 'count=32', 'conv=fsync']);
  await detach(id, 'quota');
  await must(controller, 'Controller.DeleteVolume', { volume_id: id });
  assert.notEqual((await storage.exec(['test', '-e', '/srv/nfs/fast/quota-1'])).code, 0, 'the directory is gone');
  assert.equal(await limitKiB(project), 0, 'the limit is lifted');
});

test('snapshot of a 256 MiB volume: server-side reflink vs copy through the mount; restore larger', async (t) => {
  const times: Record<string, number> = {};
  for (const pool of ['fast', 'slow']) {
    const { id } = await create(pool, `big-${pool}`, 320 * MiB);
    // Filled on the server: the data need not cross the wire to be snapshotted.
    await storage.run(['dd', 'if=/dev/urandom', `of=/srv/nfs/${pool}/big-${pool}/data`, 'bs=1M', 'count=256', 'conv=fsync']);
    const before = await usedBytes();
    const started = performance.now();
    const snap = await must(controller, 'Controller.CreateSnapshot', { name: `snap-${pool}`, source_volume_id: id });
    times[pool] = performance.now() - started;
    const grew = (await usedBytes()) - before;
    t.diagnostic(`${pool}: CreateSnapshot of 256 MiB took ${(times[pool] / 1000).toFixed(2)} s; the export's used space grew by ${(grew / MiB).toFixed(1)} MiB`);
    if (pool === 'fast') assert.ok(grew < 16 * MiB, `a reflink snapshot takes no space (grew ${grew} bytes)`);
    const snapId = snap.snapshot.snapshot_id as string;
    const restored = await create(pool, `restored-${pool}`, 384 * MiB, { snapshot: { snapshot_id: snapId } });
    const sum = async (p: string) => (await storage.run(['sha256sum', p])).stdout.split(' ')[0];
    assert.equal(await sum(`/srv/nfs/${pool}/restored-${pool}/data`), await sum(`/srv/nfs/${pool}/big-${pool}/data`));
    assert.equal(await limitKiB(await projectOf(pool, `restored-${pool}`)), 384 * 1024);
    await must(controller, 'Controller.DeleteVolume', { volume_id: restored.id });
    await must(controller, 'Controller.DeleteSnapshot', { snapshot_id: snapId });
    await must(controller, 'Controller.DeleteVolume', { volume_id: id });
  }
  process.stdout.write(`NFS SNAPSHOT 256 MiB: reflink ${(times.fast! / 1000).toFixed(2)} s, copy ${(times.slow! / 1000).toFixed(2)} s\n`);
});
