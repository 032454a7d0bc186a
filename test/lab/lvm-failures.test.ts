// LVM failure paths on real device-mapper in a lab node:
//  - a thin pool running out of space: RESOURCE_EXHAUSTED up front, writes fail fast, and the
//    volume's condition turns abnormal (not a hang);
//  - a raid1 volume whose leg fails: the condition says so;
//  - the driver killed with SIGKILL in the middle of a create (a thick clone, mid-copy): the
//    retry finishes it and no LV is left over.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pollUntil, startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { attempt, blockCap, createReq, lvs, MiB, must, onNode, poolsYaml, sh, type LvInfo } from './lvm/setup.js';
import { HEALTH_TTL_MS } from '../../src/node/transports/lvm.js';

const NODE = 'lvm-failures';
let lab: Lab;
let node: LabNode;
let driver: NodeDriver;
let poolsFile: string;

before(async () => {
  lab = await startLab({ name: 'lvm-failures', nodes: [{ name: NODE, services: ['lvm'], memMiB: 1536 }] });
  node = lab.node(NODE);
  // A tiny thin pool that fails writes at once when full (instead of queueing them for 60 s),
  // and a second VG on two PVs for raid1.
  await sh(node, ['lvcreate', '-q', '-L', '64M', '-T', 'labvg/tiny', '--errorwhenfull', 'y']);
  const pvs: string[] = [];
  for (const n of ['raid-a', 'raid-b']) {
    const file = join(node.runDir, `${n}.img`);
    await node.run(['truncate', '-s', '1G', file]);
    pvs.push((await node.run(['losetup', '-f', '--show', file])).stdout.trim());
  }
  await node.run(['modprobe', 'dm_raid']);
  await sh(node, ['pvcreate', '-q', ...pvs]);
  await sh(node, ['vgcreate', '-q', 'raidvg', ...pvs]);
  poolsFile = join(node.runDir, 'pools.yaml');
  writeFileSync(poolsFile, poolsYaml([
    '{id: tiny, type: lvmthin, vgname: labvg, thinpool: tiny, overprovision: 2}',
    '{id: mirrored, type: lvm, vgname: raidvg, mirror: 1}',
    '{id: thick, type: lvm, vgname: labvg}',
  ]));
  driver = await startDriver(node, { nodeId: NODE, poolsFile });
});

after(async () => {
  await lab?.close();
});

/** Stage and publish a block volume; the target file is the device. */
async function publishBlock(volume: { volume_id: string; volume_context: Record<string, string> }, name: string): Promise<string> {
  const target = `/tmp/${name}.dev`;
  const volumeId = volume.volume_id;
  await must(driver, 'Node.NodeStageVolume', { volume_id: volumeId, staging_target_path: `/tmp/${name}.stage`, volume_capability: blockCap, volume_context: volume.volume_context });
  await must(driver, 'Node.NodePublishVolume', { volume_id: volumeId, staging_target_path: `/tmp/${name}.stage`, target_path: target, volume_capability: blockCap });
  return target;
}

test('thin pool exhaustion: RESOURCE_EXHAUSTED at once, failing writes, abnormal volume condition', async (t) => {
  // Pool 64 MiB x overprovision 2: 128 MiB of volumes may be handed out.
  const a = await must(driver, 'Controller.CreateVolume', createReq('thin-a', 'tiny', 96 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  const over = await attempt(driver, 'Controller.CreateVolume', createReq('thin-b', 'tiny', 64 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  t.diagnostic(`over the budget: ${over.code} in ${over.ms} ms: ${over.details}`);
  assert.equal(over.code, 'RESOURCE_EXHAUSTED');
  // Refused by the admission check, not after a timeout (the lab machine may be loaded).
  assert.ok(over.ms < 30_000, `refused in ${over.ms} ms`);
  assert.ok(!(await lvs(node)).some((l) => l.name === 'thin-b'), 'no LV made for the refused volume');
  const cap = await must(driver, 'Controller.GetCapacity', { parameters: { pool: 'tiny' }, accessible_topology: { segments: { 'topology.poolcsi.io/node': NODE } } });
  assert.equal(Number(cap.available_capacity), 32 * MiB);

  // Fill the pool through the volume: the write fails (errorwhenfull), it does not hang.
  const dev = await publishBlock(a.volume, 'thin-a');
  const dd = await node.exec(['dd', 'if=/dev/urandom', `of=${dev}`, 'bs=1M', 'count=80', 'oflag=direct'], { timeoutMs: 120_000 });
  t.diagnostic(`dd into the full pool: exit ${dd.code} after ${dd.durationMs} ms: ${dd.stderr.trim().split('\n')[0]}`);
  assert.notEqual(dd.code, 0);
  assert.ok(!dd.timedOut);
  const stats = await must(driver, 'Node.NodeGetVolumeStats', { volume_id: a.volume.volume_id, volume_path: dev, staging_target_path: '/tmp/thin-a.stage' });
  t.diagnostic(`condition: ${JSON.stringify(stats.volume_condition)}`);
  assert.equal(stats.volume_condition.abnormal, true);
  assert.match(stats.volume_condition.message, /thin pool tiny is full|out of data space/);

  // Within the budget, but the pool is full: refused too, and GetCapacity says 0.
  const full = await attempt(driver, 'Controller.CreateVolume', createReq('thin-c', 'tiny', 16 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  t.diagnostic(`pool full: ${full.code} in ${full.ms} ms: ${full.details}`);
  assert.equal(full.code, 'RESOURCE_EXHAUSTED');
  assert.ok(full.ms < 30_000);
  assert.equal(Number((await must(driver, 'Controller.GetCapacity', { parameters: { pool: 'tiny' } })).available_capacity), 0);

  await must(driver, 'Node.NodeUnpublishVolume', { volume_id: a.volume.volume_id, target_path: dev });
  await must(driver, 'Node.NodeUnstageVolume', { volume_id: a.volume.volume_id, staging_target_path: '/tmp/thin-a.stage' });
  await must(driver, 'Controller.DeleteVolume', { volume_id: a.volume.volume_id });
});

test('raid1 volume: two legs on two PVs; a failed leg makes the condition abnormal', async (t) => {
  const v = await must(driver, 'Controller.CreateVolume', createReq('mirror-a', 'mirrored', 32 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  const lv = (await lvs(node, 'raidvg')).find((l) => l.name === 'mirror-a');
  assert.ok(lv, 'LV made');
  assert.equal(lv.attr[0], 'r', `a raid LV (attr ${lv.attr})`);
  assert.match(lv.tags, /poolcsi\.io\/p\.mirror=1/);
  const dev = await publishBlock(v.volume, 'mirror-a');
  const healthy = await must(driver, 'Node.NodeGetVolumeStats', { volume_id: v.volume.volume_id, volume_path: dev, staging_target_path: '/tmp/mirror-a.stage' });
  assert.equal(healthy.volume_condition.abnormal, false, JSON.stringify(healthy.volume_condition));

  // Three copies need three PVs: refused with LVM's reason.
  const three = await attempt(driver, 'Controller.CreateVolume', createReq('mirror-3', 'mirrored', 32 * MiB,
    { parameters: { pool: 'mirrored', mirror: '2' }, volume_capabilities: [blockCap], ...onNode(NODE) }));
  t.diagnostic(`mirror 2 on 2 PVs: ${three.code}: ${three.details}`);
  assert.ok(three.code === 'RESOURCE_EXHAUSTED' || three.code === 'INVALID_ARGUMENT', String(three.code));

  // Fail the second leg: its device now returns I/O errors; a write makes dm-raid notice.
  const leg = 'raidvg-mirror--a_rimage_1';
  const sectors = (await node.run(['blockdev', '--getsz', `/dev/mapper/${leg}`])).stdout.trim();
  await node.run(['dmsetup', 'suspend', leg]);
  await node.run(['dmsetup', 'load', leg, '--table', `0 ${sectors} error`]);
  await node.run(['dmsetup', 'resume', leg]);
  await node.exec(['dd', 'if=/dev/zero', `of=${dev}`, 'bs=1M', 'count=4', 'oflag=direct'], { timeoutMs: 60_000 });
  // As the kubelet calls it: with the staging path, where the stage stash names the transport.
  // The node answers conditions from one report of the VG for HEALTH_TTL_MS (10 s): the
  // failure shows within that, as the kubelet polls.
  const t0 = Date.now();
  const degraded = await pollUntil(async () => {
    const r = await must(driver, 'Node.NodeGetVolumeStats', { volume_id: v.volume.volume_id, volume_path: dev, staging_target_path: '/tmp/mirror-a.stage' });
    return r.volume_condition.abnormal ? r : undefined;
  }, { timeoutMs: HEALTH_TTL_MS + 20_000, what: 'the condition to turn abnormal', intervalMs: 2000 }).catch(async () => must(driver, 'Node.NodeGetVolumeStats', { volume_id: v.volume.volume_id, volume_path: dev, staging_target_path: '/tmp/mirror-a.stage' }));
  t.diagnostic(`degraded after ${Date.now() - t0} ms: ${JSON.stringify(degraded.volume_condition)}`);
  assert.equal(degraded.volume_condition.abnormal, true);
  assert.match(degraded.volume_condition.message, /raid leg/);
});

test('SIGKILL of the driver in the middle of a create; the retry finishes it and leaves no other LV', async (t) => {
  const src = await must(driver, 'Controller.CreateVolume', createReq('kill-src', 'thick', 768 * MiB, { volume_capabilities: [blockCap], ...onNode(NODE) }));
  await node.run(['dd', 'if=/dev/urandom', 'of=/dev/labvg/kill-src', 'bs=1M', 'count=64', 'oflag=direct'], { timeoutMs: 120_000 });
  const before = new Set((await lvs(node)).map((l) => l.name));
  const clone = createReq('kill-clone', 'thick', 768 * MiB, {
    volume_capabilities: [blockCap], volume_content_source: { volume: { volume_id: src.volume.volume_id } }, ...onNode(NODE),
  });
  // A clone of 768 MiB is a copy long enough to be killed in.
  const pending = attempt(driver, 'Controller.CreateVolume', clone);
  const seen = await pollUntil(async () => {
    const all = await lvs(node);
    const midCopy = all.some((l) => l.name === 'kill-clone.src') && all.some((l) => l.name === 'kill-clone' && l.tags.includes('poolcsi.io/incomplete'));
    return midCopy ? all : undefined;
  }, { timeoutMs: 120_000, what: 'the clone to be half made', intervalMs: 50 });
  t.diagnostic(`mid-create: ${seen.filter((l) => !before.has(l.name)).map((l) => `${l.name} [${l.tags}]`).join('; ')}`);
  await node.signal(driver.pid, 'SIGKILL');
  await pollUntil(() => (node.exited(driver.pid) ? true : undefined), { timeoutMs: 20_000, what: 'the driver to die' });
  const killed = await pending;
  t.diagnostic(`the interrupted call: ${killed.code}`);
  assert.equal(killed.ok, false);

  // The killed driver left its socket behind; startDriver waits for the socket file to exist.
  await node.run(['rm', '-f', driver.socket]);
  driver = await startDriver(node, { nodeId: NODE, poolsFile, logName: 'driver-after-kill.log' });
  const listed = await must(driver, 'Controller.ListVolumes', {});
  assert.ok(!listed.entries.some((e: { volume: { volume_id: string } }) => e.volume.volume_id === 'thick:kill-clone'), 'a half-made volume is not listed');
  const retry = await attempt(driver, 'Controller.CreateVolume', clone);
  assert.ok(retry.ok, `retry: ${retry.code}: ${retry.details}`);
  const after: LvInfo[] = await lvs(node);
  assert.deepEqual(after.filter((l) => !before.has(l.name)).map((l) => l.name), ['kill-clone'], 'only the clone is new: no temporary snapshot, no second LV');
  assert.ok(!after.find((l) => l.name === 'kill-clone')!.tags.includes('incomplete'));
  const sum = async (dev: string) =>
    (await node.run(['sh', '-c', `dd if=${dev} bs=1M count=64 iflag=direct status=none | md5sum`], { timeoutMs: 120_000 })).stdout.split(' ')[0];
  assert.equal(await sum('/dev/labvg/kill-clone'), await sum('/dev/labvg/kill-src'), 'the clone holds the source\'s data');
  // The same request once more: answered, nothing changes.
  assert.ok((await attempt(driver, 'Controller.CreateVolume', clone)).ok);
  assert.deepEqual((await lvs(node)).map((l) => l.name).sort(), after.map((l) => l.name).sort());
  for (const id of ['thick:kill-clone', src.volume.volume_id]) await must(driver, 'Controller.DeleteVolume', { volume_id: id });
  assert.deepEqual((await lvs(node)).map((l) => l.name).sort(), [...before].filter((n) => n !== 'kill-src').sort());
});
