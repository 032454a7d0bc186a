// csi-sanity against `poolcsi serve --mode all` with a dir pool, inside a lab node (a real
// kernel: the driver's bind mounts and xfs project quotas happen there, not on the host).
// Mount mode only: a dir pool has no block volumes, and the driver refuses them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSanity, scratchFilesystem } from './harness/index.js';
import { checkSanity } from '../sanity/check.js';

test('csi-sanity passes against a dir pool in a lab node (mount)', async (t) => {
  const result = await runSanity({
    name: 'sanity-dir',
    services: [],
    nodeId: 'sanity-dir',
    poolsYaml: 'pools:\n  - id: local\n    type: dir\n    path: /srv/pools/local\n',
    volumeParameters: { pool: 'local' },
    // The pool on xfs with project quotas, as on a real node; 32 GiB sparse, so csi-sanity's
    // 10 GiB volumes fit.
    prepare: async (node) => {
      await scratchFilesystem(node, { name: 'dirpool', fsType: 'xfs', size: '32G', mountPoint: '/srv/pools/local', mountOptions: ['prjquota'] });
    },
    modes: ['mount'],
  });
  for (const line of result.timings) t.diagnostic(line);
  const [mount] = result.modes;
  assert.ok(mount);
  t.diagnostic(`csi-sanity dir/mount: ${(mount.durationMs / 1000).toFixed(1)} s`);
  checkSanity(t, 'dir', mount, result.driverLog, 1);
});
