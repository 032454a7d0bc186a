// Read-only block volumes are read-only devices (issue 10 item 6): a read-only bind mount of a
// device node does not stop writes, so a read-only publish of an LV gets its own read-only loop
// device over it. Proven with O_DIRECT writes that the kernel refuses, while a read-write
// publish of the same volume next to it still writes; the loop device outlives a driver
// restart and is released by the unpublish.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { blockCap, createReq, MiB, must, onNode, poolsYaml } from './lvm/setup.js';

const NODE = 'ro-block';
let lab: Lab;
let node: LabNode;
let driver: NodeDriver;
let poolsFile: string;

before(async () => {
  lab = await startLab({ name: 'readonly-block', nodes: [{ name: NODE, services: ['lvm'], memMiB: 1024 }] });
  node = lab.node(NODE);
  poolsFile = join(node.runDir, 'pools.yaml');
  writeFileSync(poolsFile, poolsYaml(['{id: thin, type: lvmthin, vgname: labvg, thinpool: thin}']));
  driver = await startDriver(node, { nodeId: NODE, poolsFile });
});

after(async () => {
  await lab?.close();
});

/** dd of one MiB with O_DIRECT onto `dev`: the exit code and what dd said. */
async function write(dev: string): Promise<{ code: number; stderr: string }> {
  const r = await node.exec(['dd', 'if=/dev/zero', `of=${dev}`, 'bs=1M', 'count=1', 'oflag=direct', 'conv=notrunc', 'status=none']);
  return { code: r.code ?? -1, stderr: r.stderr };
}

const loops = async () => (await node.run(['losetup', '--list', '--noheadings', '--output', 'NAME,RO,BACK-FILE'])).stdout.trim();

test('an lvm block volume published read-only refuses writes; read-write next to it still writes', async () => {
  const created = await must(driver, 'Controller.CreateVolume', createReq('ro-1', 'thin', 32 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  const { volume_id: id, volume_context: context } = created.volume;
  assert.equal(context.transport, 'lvm');
  const staging = '/run/lab/k/ro-1/staging';
  const ro = '/run/lab/k/ro-1/ro.dev';
  const rw = '/run/lab/k/ro-1/rw.dev';
  await node.run(['mkdir', '-p', staging]);
  await must(driver, 'Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: blockCap, volume_context: context });
  await must(driver, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: rw, volume_capability: blockCap });
  await must(driver, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: ro, volume_capability: blockCap, readonly: true });
  // idempotent, and a read-write publish at the read-only target conflicts
  await must(driver, 'Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: ro, volume_capability: blockCap, readonly: true });
  const again = await driver.call('Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: ro, volume_capability: blockCap });
  assert.ok(!again.ok && again.code === 6, 'ALREADY_EXISTS for the same target read-write');

  const refused = await write(ro);
  assert.notEqual(refused.code, 0, 'the write on the read-only publish must fail');
  assert.match(refused.stderr, /Read-only file system|Operation not permitted|Permission denied/);
  assert.equal((await write(rw)).code, 0, 'the read-write publish writes');
  assert.equal((await node.exec(['dd', `if=${ro}`, 'of=/dev/null', 'bs=1M', 'count=1', 'iflag=direct', 'status=none'])).code, 0, 'the read-only publish reads');
  // its backing file is the LV's device node, named as the node resolved it (dm-N or mapper)
  const overLv = /\/dev\/loop\d+\s+1\s+\/dev\/(dm-\d+|mapper\/labvg-ro--1)$/m;
  assert.match(await loops(), overLv, 'one read-only loop device over the LV');

  // The loop device is kernel state: a restarted driver finds it from the target and releases it.
  await driver.stop();
  driver = await startDriver(node, { nodeId: NODE, poolsFile });
  assert.notEqual((await write(ro)).code, 0, 'still read-only after the restart');
  await must(driver, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: ro });
  assert.doesNotMatch(await loops(), overLv, 'the loop device is released with its publish');
  await must(driver, 'Node.NodeUnpublishVolume', { volume_id: id, target_path: rw });
  await must(driver, 'Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  await must(driver, 'Controller.DeleteVolume', { volume_id: id });
});
