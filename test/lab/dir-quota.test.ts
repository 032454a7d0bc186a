// The dir pool enforces volume sizes with xfs project quotas on a real kernel: a volume
// published through the CSI calls the kubelet makes refuses writes beyond its size, and
// growing it (ControllerExpandVolume) raises the limit.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratchFilesystem, startDriver, withLab } from './harness/index.js';

const MiB = 1024 * 1024;
const CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: '', mount_flags: [] } };

test('dir pool: sizes are enforced with xfs project quotas and grow on expand', async (t) => {
  await withLab({ name: 'dir-quota', nodes: [{ name: 'quota-node' }] }, async (lab) => {
    const node = lab.node('quota-node');
    await scratchFilesystem(node, { name: 'quota', fsType: 'xfs', size: '512M', mountPoint: '/srv/pools/q', mountOptions: ['prjquota'] });
    const poolsFile = join(node.runDir, 'pools.yaml');
    writeFileSync(poolsFile, 'pools:\n  - id: q\n    type: dir\n    path: /srv/pools/q\n');
    const driver = await startDriver(node, { nodeId: 'quota-node', poolsFile });
    try {
      const created = await driver.call('Controller.CreateVolume', {
        name: 'pvc-quota', volume_capabilities: [CAP], parameters: { pool: 'q' }, capacity_range: { required_bytes: String(16 * MiB) },
      });
      assert.ok(created.ok, JSON.stringify(created));
      const id = created.response.volume.volume_id;
      const staging = '/run/lab/kubelet/staging/pvc-quota';
      const target = '/run/lab/kubelet/pods/p1/mount';
      await node.run(['mkdir', '-p', staging, '/run/lab/kubelet/pods/p1']);
      for (const [m, req] of [
        ['Node.NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: CAP, volume_context: created.response.volume.volume_context }],
        ['Node.NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: CAP }],
      ] as const) {
        const r = await driver.call(m, req);
        assert.ok(r.ok, `${m}: ${JSON.stringify(r)}`);
      }
      const write = (file: string, mib: number) => node.exec(['dd', 'if=/dev/zero', `of=${target}/${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync']);
      assert.equal((await write('small', 8)).code, 0, 'a write within the size succeeds');
      const over = await write('big', 16);
      assert.notEqual(over.code, 0, 'a write beyond 16 MiB must fail');
      assert.match(over.stderr, /quota exceeded|No space left/i);
      const stats = await driver.call('Node.NodeGetVolumeStats', { volume_id: id, volume_path: target });
      assert.ok(stats.ok);
      const bytes = stats.response.usage.find((u: { unit: string }) => u.unit === 'BYTES');
      t.diagnostic(`stats: total ${bytes.total}, used ${bytes.used}`);
      assert.ok(Number(bytes.total) <= 16 * MiB, `statfs reports the quota as the size (${bytes.total})`);

      const grown = await driver.call('Controller.ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: String(64 * MiB) } });
      assert.ok(grown.ok, JSON.stringify(grown));
      await node.run(['rm', '-f', `${target}/big`]);
      assert.equal((await write('big', 24)).code, 0, 'after expand, 32 MiB fit');

      for (const [m, req] of [
        ['Node.NodeUnpublishVolume', { volume_id: id, target_path: target }],
        ['Node.NodeUnstageVolume', { volume_id: id, staging_target_path: staging }],
        ['Controller.DeleteVolume', { volume_id: id }],
      ] as const) {
        const r = await driver.call(m, req);
        assert.ok(r.ok, `${m}: ${JSON.stringify(r)}`);
      }
      assert.equal((await node.exec(['test', '-e', '/srv/pools/q/volumes/pvc-quota'])).code, 1, 'the volume directory is gone');
    } finally {
      await driver.stop();
    }
  });
});
