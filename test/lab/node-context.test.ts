// The node plugin works from what the controller handed it (issue 9 item 1): an rbd volume is
// staged with a restricted cephx user given as node-stage secrets, then the node plugin is
// restarted with the pool out of its reach (no pool entry in its pools file, no Secret): stats,
// expansion and unstage still work, and the krbd device is unmapped. A reader-only staging maps
// the image read-only (issue 10 item 6), and a write on it fails.
// Controller and node plugin run as separate processes (--mode controller / --mode node), as
// in Kubernetes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { cephKey, must, rbdPoolYaml, writeIn, writeSecretDir } from './rbd-support.js';

const NODE = 'node-context';
const CTL_POOLS = '/run/lab/rbd/controller-pools.yaml';
const NODE_POOLS = '/run/lab/rbd/node-pools.yaml';
const CTL_SECRETS = '/run/lab/rbd/controller-secrets';
const NODE_SECRETS = '/run/lab/rbd/node-secrets';
const MiB = 1024 * 1024;
const MOUNT_CAP = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

let lab: Lab;
let node: LabNode;
let controller: NodeDriver;
let plugin: NodeDriver;
let admin = '';
let nodeKey = '';

before(async () => {
  lab = await startLab({ name: 'node-context', nodes: [{ name: NODE, services: ['ceph'], memMiB: 1536 }] });
  node = lab.node(NODE);
  admin = await cephKey(node);
  // What ceph-csi gives nodes: a user that may map images of the pool, nothing more.
  nodeKey = (await node.run(['ceph', 'auth', 'get-or-create-key', 'client.csi-node', 'mon', 'profile rbd', 'osd', 'profile rbd pool=rbd'])).stdout.trim();
  const pools = rbdPoolYaml({ monhost: '127.0.0.1:6789' });
  await writeIn(node, CTL_POOLS, pools);
  await writeIn(node, NODE_POOLS, pools);
  await writeSecretDir(node, CTL_SECRETS, admin);
  await writeSecretDir(node, NODE_SECRETS, admin);
  controller = await startDriver(node, { mode: 'controller', nodeId: NODE, poolsFile: CTL_POOLS, socket: '/run/lab/csi/controller.sock', args: ['--secrets-dir', CTL_SECRETS], logName: 'controller.log' });
  plugin = await startNodePlugin(['--secrets-dir', NODE_SECRETS]);
});

after(async () => {
  await lab?.close();
});

function startNodePlugin(args: string[] = []): Promise<NodeDriver> {
  return startDriver(node, { mode: 'node', nodeId: NODE, poolsFile: NODE_POOLS, socket: '/run/lab/csi/node.sock', args, logName: 'node.log' });
}

const adminSecrets = () => ({ userID: 'admin', userKey: admin });
const nodeSecrets = () => ({ userID: 'csi-node', userKey: nodeKey });
const mapped = async () => JSON.parse((await node.run(['rbd', 'device', 'list', '--format', 'json'])).stdout) as Array<{ name: string; device: string }>;

test('staged with node-stage secrets; after a restart without the pool, stats, expand and unstage still work', async () => {
  const created = await must(controller, 'Controller.CreateVolume', {
    name: 'ctx-1', capacity_range: { required_bytes: String(64 * MiB) }, volume_capabilities: [MOUNT_CAP], parameters: { pool: 'ceph' }, secrets: adminSecrets(),
  });
  const { volume_id: id, volume_context: context } = created.volume;
  assert.deepEqual(
    Object.fromEntries(Object.entries(context as Record<string, string>).filter(([k]) => k === 'transport' || k.startsWith('rbd.'))),
    { transport: 'rbd', 'rbd.monhost': '127.0.0.1:6789', 'rbd.pool': 'rbd', 'rbd.image': 'ctx-1', 'rbd.udev': 'auto' },
  );
  assert.ok(!JSON.stringify(context).includes(admin), 'no key in the volume context');
  const staging = '/run/lab/k/ctx-1/staging';
  const target = '/run/lab/k/ctx-1/target';
  await node.run(['mkdir', '-p', staging]);
  await must(controller, 'Controller.ControllerPublishVolume', { volume_id: id, node_id: NODE, volume_capability: MOUNT_CAP, secrets: adminSecrets() });
  // Without node-stage secrets the node cannot map: it does not fall back to the pool's key.
  const bare = await plugin.call('Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: MOUNT_CAP, volume_context: context });
  assert.ok(!bare.ok && /node-stage-secret-name/.test(bare.details), JSON.stringify(bare));
  await must(plugin, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: MOUNT_CAP, volume_context: context, secrets: nodeSecrets() });
  await must(plugin, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: MOUNT_CAP });
  await node.run(['sh', '-c', 'echo kept > "$1/file" && sync', 'sh', target]);
  assert.equal((await mapped()).filter((m) => m.name === 'ctx-1').length, 1);
  const stash = JSON.parse((await node.run(['cat', `${staging}/poolcsi-stage.json`])).stdout);
  assert.equal(stash.state, 'staged');
  assert.ok(!JSON.stringify(stash).includes(nodeKey), 'no key in the stash');
  assert.equal((await node.run(['stat', '-c', '%a', `${staging}/poolcsi-stage.json`])).stdout.trim(), '600');

  // The pool leaves the node plugin's reach: no pool entry, no Secret, no --secrets-dir.
  await plugin.stop();
  await writeIn(node, NODE_POOLS, 'pools:\n  - id: other\n    type: dir\n    path: /run/lab/other-pool\n');
  await node.run(['mkdir', '-p', '/run/lab/other-pool']);
  await node.run(['rm', '-rf', NODE_SECRETS]);
  plugin = await startNodePlugin();

  const stats = await must(plugin, 'Node.NodeGetVolumeStats', { volume_id: id, volume_path: target, staging_target_path: staging });
  assert.equal(stats.volume_condition.abnormal, false, JSON.stringify(stats.volume_condition));
  assert.match(stats.volume_condition.message, /mapped at \/dev\/rbd\d+/);
  const bytes = Number(stats.usage.find((u: { unit: string }) => u.unit === 'BYTES').total);
  assert.ok(bytes > 40 * MiB && bytes <= 64 * MiB, `filesystem of ${bytes} bytes`);
  // without staging_target_path (as csi-sanity calls it): found through mountinfo
  await must(plugin, 'Node.NodeGetVolumeStats', { volume_id: id, volume_path: target });
  const other = await plugin.call('Node.NodeGetVolumeStats', { volume_id: 'ceph:someone-else', volume_path: target });
  assert.ok(!other.ok && other.code === 5, 'another volume id at this path is NOT_FOUND');

  await must(controller, 'Controller.ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: String(128 * MiB) }, secrets: adminSecrets() });
  const grown = await must(plugin, 'Node.NodeExpandVolume', { volume_id: id, volume_path: target, capacity_range: { required_bytes: String(128 * MiB) } });
  assert.equal(Number(grown.capacity_bytes), 128 * MiB);
  const after = await must(plugin, 'Node.NodeGetVolumeStats', { volume_id: id, volume_path: target, staging_target_path: staging });
  assert.ok(Number(after.usage.find((u: { unit: string }) => u.unit === 'BYTES').total) > 100 * MiB, 'the filesystem grew');
  assert.equal((await node.run(['cat', `${target}/file`])).stdout.trim(), 'kept');

  await must(plugin, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: target });
  await must(plugin, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  assert.deepEqual((await mapped()).filter((m) => m.name === 'ctx-1'), [], 'the krbd device is unmapped');
  assert.equal((await node.exec(['test', '-e', `${staging}/poolcsi-stage.json`])).code, 1, 'the stash is gone');
  await must(plugin, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  await must(controller, 'Controller.ControllerUnpublishVolume', { volume_id: id, node_id: NODE, secrets: adminSecrets() });
  await must(controller, 'Controller.DeleteVolume', { volume_id: id, secrets: adminSecrets() });
});

test('a reader-only block staging maps the image read-only; a write on it fails', async () => {
  const cap = { block: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };
  const created = await must(controller, 'Controller.CreateVolume', {
    name: 'ctx-ro', capacity_range: { required_bytes: String(64 * MiB) }, volume_capabilities: [cap], parameters: { pool: 'ceph' }, secrets: adminSecrets(),
  });
  const { volume_id: id, volume_context: context } = created.volume;
  const staging = '/run/lab/k/ctx-ro/staging';
  const target = '/run/lab/k/ctx-ro/target';
  await node.run(['mkdir', '-p', staging]);
  await must(plugin, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: cap, volume_context: context, secrets: nodeSecrets() });
  await must(plugin, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: cap, readonly: true });
  const dev = (await mapped()).find((m) => m.name === 'ctx-ro')!.device;
  assert.equal((await node.run(['cat', `/sys/block/${dev.slice(5)}/ro`])).stdout.trim(), '1', 'krbd maps it read-only');
  const w = await node.exec(['dd', 'if=/dev/zero', `of=${target}`, 'bs=1M', 'count=1', 'oflag=direct', 'conv=notrunc', 'status=none']);
  assert.notEqual(w.code, 0, 'the write must fail');
  assert.match(w.stderr, /Read-only file system|Operation not permitted|Permission denied/);
  await must(plugin, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: target });
  await must(plugin, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  assert.deepEqual((await mapped()).filter((m) => m.name === 'ctx-ro'), []);
  await must(controller, 'Controller.DeleteVolume', { volume_id: id, secrets: adminSecrets() });
});

test('an image with a feature this kernel cannot map (journaling, enabled by hand) is refused, fitted and mapped', async (t) => {
  const created = await must(controller, 'Controller.CreateVolume', {
    name: 'ctx-fit', capacity_range: { required_bytes: String(64 * MiB) }, volume_capabilities: [MOUNT_CAP], parameters: { pool: 'ceph' }, secrets: adminSecrets(),
  });
  const { volume_id: id, volume_context: context } = created.volume;
  await node.run(['rbd', 'feature', 'enable', 'rbd/ctx-fit', 'journaling']);
  // What the kernel answers a map of it (test/fixtures/rbd/err-map-features.* are this).
  const raw = await node.exec(['rbd', 'map', 'rbd/ctx-fit', '-o', 'noudev']);
  t.diagnostic(`rbd map of a journaled image: exit ${raw.code}; stderr ${JSON.stringify(raw.stderr)}`);
  assert.equal(raw.code, 6, 'ENXIO');
  const staging = '/run/lab/k/ctx-fit/staging';
  await node.run(['mkdir', '-p', staging]);
  await must(plugin, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: MOUNT_CAP, volume_context: context, secrets: nodeSecrets() });
  const features = (JSON.parse((await node.run(['rbd', 'info', 'rbd/ctx-fit', '--format', 'json'])).stdout) as { features: string[] }).features;
  assert.ok(!features.includes('journaling'), `journaling disabled: ${features.join(',')}`);
  assert.equal((await mapped()).filter((m) => m.name === 'ctx-fit').length, 1);
  await must(plugin, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  assert.deepEqual((await mapped()).filter((m) => m.name === 'ctx-fit'), []);
  await must(controller, 'Controller.DeleteVolume', { volume_id: id, secrets: adminSecrets() });
});
