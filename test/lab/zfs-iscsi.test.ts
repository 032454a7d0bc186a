// A `zfs-iscsi` pool end to end (issue 15): the ZFS guest (QEMU, real OpenZFS) is the storage
// host — sshd, LIO through configfs, rtslib's targetctl for saves — and a UML node on the same
// lab Ethernet is the initiator and runs the driver (controller and node plugin), which reaches
// the guest over SSH with its host key pinned. The zvols are exported by the iscsi pool's own
// exporter and attached by its node transport (no code of their own).
// 1. Scenarios: a zvol written on the initiator and snapshotted while a writer is busy on it;
//    a restore larger than the snapshot holds the data and adds next to nothing to the
//    parent's `used`; an expand the node sees; the source deleted while its restore lives;
//    everything deleted leaves no dataset and no target.
// 2. csi-sanity (block; mount too with POOLCSI_LAB_ZFS_ISCSI_MODES=mount,block), 0 failures.
// 3. The reliability harness's zfspool and zfs-iscsi lanes (docs/reliability.md), CI-sized (12
//    operations each; REL_ZFS_OPS), run inside the guest so its boot is paid once: SIGKILL crash
//    consistency (zfspool with a stage round; zfs-iscsi the controller's side, the guest being
//    its own LIO host), the fuzz, and the checks of `zfs list` and LIO's configfs.
//    test/lab/reliability-zfs.test.ts runs them larger in a guest of their own (opt-in).
// In CI's run (POOLCSI_LAB_ZFS=0 leaves it out): the one lane that boots the emulated guest by
// default, since only the storage host is emulated here (the driver runs in the UML node).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createZpool, pollUntil, sanityInLab, startLab, zfsGuest, type Lab, type LabNode } from './harness/index.js';
import { CSI_SANITY, CSI_SANITY_INSTALL, DRIVER_MAIN } from './harness/sanity.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { blockCap, createReq, MiB, must } from './lvm/setup.js';
import { checkSanity } from '../sanity/check.js';
import { runLaneIn, sized } from './reliability-support.js';

const ENABLED = process.env.POOLCSI_LAB_ZFS !== '0';
const SKIP = ENABLED ? false : 'POOLCSI_LAB_ZFS=0: the ZFS guest lanes are left out';
const HOST = 'zfshost';
const NODE = 'initiator';
const DATASET = 'tank/k8s';
const POOL = 'zsan';

let lab: Lab;
let host: LabNode;
let node: LabNode;
let pools = '';

before(async () => {
  if (!ENABLED) return;
  lab = await startLab({
    name: 'zfs-iscsi',
    network: true,
    nodes: [
      { name: HOST, memMiB: 1536, guest: zfsGuest({ diskBytes: 4 * 1024 ** 3 }), services: ['sshd', 'iscsi-target'] },
      { name: NODE, memMiB: 1536, services: ['iscsi-initiator'] },
    ],
    serviceTimeoutMs: { sshd: 180_000, 'iscsi-target': 180_000 },
    files: [
      { path: CSI_SANITY, fix: `csi-sanity is not installed: ${CSI_SANITY_INSTALL}` },
      { path: DRIVER_MAIN, fix: 'the driver is not built: run npm run build' },
    ],
  });
  host = lab.node(HOST);
  node = lab.node(NODE);
  await createZpool(lab, host, 'tank', DATASET);
  const hostKey = (await host.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
  // JSON is YAML: no quoting of the host key line to get wrong.
  pools = JSON.stringify({
    pools: [{
      id: POOL, type: 'zfs-iscsi', pool: DATASET, portals: [`${host.ip}:3260`], iqnPrefix: 'iqn.2003-01.org.example.lab',
      ssh: { host: host.ip, privateKey: { file: lab.sshKey }, hostKey },
    }],
  });
}, { timeout: 60 * 60_000 });

after(async () => {
  await lab?.close();
});

const zfsList = async () => (await host.run(['zfs', 'list', '-H', '-p', '-r', '-o', 'name,type,used', DATASET])).stdout.trim().split('\n')
  .map((l) => l.split('\t')).filter(([name]) => name !== DATASET);
// `used` moves only when a transaction group syncs (seconds later under TCG): sync first, or the
// writer's last MiBs land between two readings and look like the restore's.
const usedOf = async (ds: string) => {
  await host.run(['zpool', 'sync', ds.split('/')[0]!]);
  return Number((await host.run(['zfs', 'get', '-H', '-p', '-o', 'value', 'used', ds])).stdout.trim());
};
const targets = async () => (await host.exec(['ls', '/sys/kernel/config/target/iscsi'])).stdout.split('\n').filter((t) => t.startsWith('iqn.'));

test('a zvol over iSCSI: snapshot in use, a thin larger restore with the data, an expand the node sees, deletes that leave nothing', { skip: SKIP, timeout: 40 * 60_000 }, async () => {
  const poolsFile = join(node.runDir, 'pools.yaml');
  writeFileSync(poolsFile, pools);
  const driver: NodeDriver = await startDriver(node, { nodeId: NODE, poolsFile });
  try {
    const attach = async (name: string, extra: object) => {
      const created = await must(driver, 'Controller.CreateVolume', { ...createReq(name, POOL, 32 * MiB, { volume_capabilities: [blockCap] }), ...extra });
      const v = { id: created.volume.volume_id as string, context: created.volume.volume_context as Record<string, string>, staging: `/run/lab/k/${name}/staging` };
      const pub = await must(driver, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: NODE, volume_capability: blockCap, volume_context: v.context });
      await node.run(['mkdir', '-p', v.staging]);
      await must(driver, 'Node.NodeStageVolume', { volume_id: v.id, staging_target_path: v.staging, volume_capability: blockCap, volume_context: v.context, publish_context: pub.publish_context });
      const disk = JSON.parse((await node.run(['cat', `${v.staging}/poolcsi-stage.json`])).stdout).attached.stash.disk as string;
      return { ...v, disk };
    };
    const detach = async (v: { id: string; staging: string }) => {
      await must(driver, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: v.staging });
      await must(driver, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: NODE });
    };
    const firstMiB = async (disk: string) => (await node.run(['sh', '-c', 'dd if="$1" bs=1M count=1 iflag=direct status=none | sha256sum', 'sh', `/dev/${disk}`])).stdout.split(' ')[0];
    const sizeOf = async (disk: string) => Number((await node.run(['cat', `/sys/block/${disk}/size`])).stdout.trim()) * 512;

    const a = await attach('zv-a', {});
    const kinds = await zfsList();
    assert.deepEqual(kinds.map(([, type]) => type), ['volume'], `the volume is one zvol: ${JSON.stringify(kinds)}`);
    await node.run(['dd', 'if=/dev/urandom', `of=/dev/${a.disk}`, 'bs=1M', 'count=1', 'oflag=direct', 'status=none']);
    const written = await firstMiB(a.disk);

    // In use: a writer busy past the first MiB while the snapshot is taken.
    const writer = await node.spawn(['dd', 'if=/dev/urandom', `of=/dev/${a.disk}`, 'bs=1M', 'seek=4', 'count=24', 'oflag=direct', 'status=none'], { logName: 'writer.log' });
    const snap = await must(driver, 'Controller.CreateSnapshot', { source_volume_id: a.id, name: 'zv-a-snap' });
    const ended = await pollUntil(() => node.exited(writer.pid), { timeoutMs: 180_000, what: 'the writer to finish' });
    assert.equal(ended.code, 0, `the writer wrote through the snapshot (${writer.logFile})`);
    assert.equal(snap.snapshot.ready_to_use, true);

    const usedBefore = await usedOf(DATASET);
    const b = await attach('zv-b', {
      capacity_range: { required_bytes: String(48 * MiB) },
      volume_content_source: { snapshot: { snapshot_id: snap.snapshot.snapshot_id } },
    });
    const grew = (await usedOf(DATASET)) - usedBefore;
    assert.equal(await firstMiB(b.disk), written, 'the restore holds what the snapshot caught');
    assert.equal(await sizeOf(b.disk), 48 * MiB, 'the restore has the size asked for, larger than its snapshot');
    assert.ok(grew < 2 * MiB, `the restore is a clone: the parent's used grew by ${grew} bytes`);

    await must(driver, 'Controller.ControllerExpandVolume', { volume_id: a.id, capacity_range: { required_bytes: String(64 * MiB) }, volume_capability: blockCap });
    await must(driver, 'Node.NodeExpandVolume', { volume_id: a.id, volume_path: a.staging, staging_target_path: a.staging, capacity_range: { required_bytes: String(64 * MiB) }, volume_capability: blockCap });
    assert.equal(await sizeOf(a.disk), 64 * MiB, 'the node sees the grown zvol');
    assert.equal(await firstMiB(a.disk), written, 'the data survived the expand');

    // The source goes first while its restore and snapshot live (deferred, hidden); then the rest.
    await detach(a);
    await must(driver, 'Controller.DeleteVolume', { volume_id: a.id });
    assert.equal(await firstMiB(b.disk), written, 'the restore still reads after its source was deleted');
    await detach(b);
    await must(driver, 'Controller.DeleteSnapshot', { snapshot_id: snap.snapshot.snapshot_id });
    await must(driver, 'Controller.DeleteVolume', { volume_id: b.id });
    assert.deepEqual(await zfsList(), [], 'no dataset is left under the pool');
    assert.deepEqual(await targets(), [], 'no target is left');
    const sessions = (await node.exec(['iscsiadm', '-m', 'session'])).stdout.trim();
    assert.equal(sessions, '', 'no session is left on the initiator');
    // Its SSH connection to the storage host is open: SIGTERM must still end it.
    assert.equal(await driver.stop(), 'SIGTERM', 'the driver exits on SIGTERM');
  } finally {
    await driver.stop();
  }
});

const MODES = (process.env.POOLCSI_LAB_ZFS_ISCSI_MODES ?? 'block').split(',') as Array<'mount' | 'block'>;

test(`csi-sanity passes against a zfs-iscsi pool (${MODES.join(' and ')})`, { skip: SKIP, timeout: 90 * 60_000 }, async (t) => {
  // What the scenario above left if it failed is its failure, not csi-sanity's.
  const before = await zfsList();
  const result = await sanityInLab(lab, node, NODE, {
    services: [], poolsYaml: pools, volumeParameters: { pool: POOL }, modes: MODES, nodeId: NODE,
    sanityArgs: ['--csi.testvolumesize=67108864', '--csi.testvolumeexpandsize=134217728'], timeoutMs: 60 * 60_000,
  });
  for (const line of result.timings) t.diagnostic(line);
  for (const r of result.modes) checkSanity(t, 'zfs-iscsi', r, result.driverLog);
  for (const r of result.modes) process.stdout.write(`SANITY zfs-iscsi/${r.mode}: ${r.summary} (${(r.durationMs / 1000).toFixed(0)} s)\n`);
  assert.deepEqual(await zfsList(), before, 'csi-sanity left no dataset');
});

// Each zfs command costs the emulated guest about half a second, and more beside CI's other
// lanes (20 operations per lane took about 1,900 s there): 12 keep the file within CI's time.
const REL_OPS = Number(process.env.REL_ZFS_OPS ?? 12);

// The lanes use datasets of their own beside the pool's, so nothing of csi-sanity's is judged.
test('reliability: zfspool, no leak, loss, stray or crash under SIGKILL and fuzz', { skip: SKIP, timeout: 40 * 60_000 }, async (t) => {
  await host.run(['zfs', 'create', '-p', 'tank/rel/pool']);
  await runLaneIn(host, t, 'zfspool', [...sized(REL_OPS, 150, 1), '--parent', 'tank/rel/pool'], 35 * 60_000);
});

test('reliability: zfs-iscsi, no leaked zvol, target or ACL, no loss, no crash under SIGKILL and fuzz', { skip: SKIP, timeout: 40 * 60_000 }, async (t) => {
  await host.run(['zfs', 'create', '-p', 'tank/rel/iscsi']);
  await runLaneIn(host, t, 'zfs-iscsi', [...sized(REL_OPS, 150, 1), '--parent', 'tank/rel/iscsi'], 35 * 60_000);
});
