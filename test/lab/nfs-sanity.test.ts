// csi-sanity against an `nfs` pool (no server agent) in one lab node: the node is its own
// NFS server (kernel nfsd exporting /srv/nfs) and client, over loopback. Mount mode only: an
// nfs pool has no block volumes. Once per protocol: NFSv3 (nolock: the lab runs no statd)
// and NFSv4.2; and NFSv4.2 with the server agent (SSH to the node itself, an XFS export with
// project quota, reflink snapshots).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSanity } from './harness/index.js';
import { checkSanity } from '../sanity/check.js';

const VARIANTS = [
  { label: 'v3', options: ['vers=3', 'nolock'], agent: false },
  { label: 'v4.2', options: ['vers=4.2'], agent: false },
  { label: 'v4.2 with server agent', options: ['vers=4.2'], agent: true },
] as const;

for (const { label, options, agent } of VARIANTS) {
  test(`csi-sanity passes against an nfs pool over NFS${label} (mount)`, async (t) => {
    const tag = label.replace(/\W+/g, '').replace('withserveragent', '-agent');
    let pools = '';
    const result = await runSanity({
      name: `nfs-sanity-${tag}`,
      services: agent ? ['nfs', 'sshd'] : ['nfs'],
      nodeId: `nfs-sanity-${tag}`,
      // The agent's export is XFS with project quota: sizes enforced, snapshots reflinked.
      ...(agent ? { labEnv: { LAB_NFS_EXPORT_FS: 'xfs', LAB_NFS_EXPORT_SIZE: '4G' } } : {}),
      get poolsYaml() { return pools; },
      prepare: async (node) => {
        const pool: Record<string, unknown> = { id: 'shared', type: 'nfs', server: '127.0.0.1', export: '/srv/nfs', options, timeoutSeconds: 10 };
        if (agent) {
          const hostKey = (await node.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
          const key = (await node.run(['sh', '-c', 'echo "$LAB_SHARED_DIR/ssh/id_ed25519"'])).stdout.trim();
          pool.serverAgent = { ssh: { host: '127.0.0.1', privateKey: { file: key }, hostKey }, quota: 'xfs-project', snapshots: 'reflink' };
        }
        pools = JSON.stringify({ pools: [pool] }); // JSON is YAML
      },
      volumeParameters: { pool: 'shared' },
      modes: ['mount'],
    });
    for (const line of result.timings) t.diagnostic(line);
    const [mount] = result.modes;
    assert.ok(mount);
    t.diagnostic(`csi-sanity nfs ${label}/mount: ${(mount.durationMs / 1000).toFixed(1)} s`);
    checkSanity(t, `nfs ${label}`, mount, result.driverLog, 1);
  });
}
