// csi-sanity against `poolcsi serve --mode all` with a zfspool pool, the driver and csi-sanity
// running inside the ZFS guest (QEMU TCG, real OpenZFS; harness/zfsguest.ts): mount mode
// (datasets with a refquota) and block mode (zvols), each with zero failures.
// Opt-in (POOLCSI_LAB_ZFS=1): a cold run builds the guest image (about 20 CPU-minutes), and
// even warm, everything in the guest runs under emulation.
import { test } from 'node:test';
import { sanityInLab, startZfsGuest } from './harness/index.js';
import { checkSanity } from '../sanity/check.js';

const ENABLED = process.env.POOLCSI_LAB_ZFS === '1';
const NODE = 'sanity-zfspool';

const POOLS = `pools:
  - {id: zfs, type: zfspool, pool: tank/k8s}
`;
const SIZES = ['--csi.testvolumesize=67108864', '--csi.testvolumeexpandsize=134217728'];


test('csi-sanity passes against a zfspool pool in the ZFS guest (mount and block)',
  { skip: ENABLED ? false : 'opt-in: POOLCSI_LAB_ZFS=1 (boots the QEMU ZFS guest; builds its image when not cached)', timeout: 150 * 60_000 },
  async (t) => {
    const t0 = Date.now();
    const z = await startZfsGuest({ name: NODE });
    try {
      const modes = (process.env.POOLCSI_ZFS_SANITY_MODES ?? 'mount,block').split(',') as Array<'mount' | 'block'>;
      const result = await sanityInLab(z.lab, z.guest, NODE, {
        services: [], poolsYaml: POOLS, volumeParameters: { pool: 'zfs' }, sanityArgs: SIZES, modes, nodeId: NODE, timeoutMs: 60 * 60_000, driverReadyTimeoutMs: 300_000,
      });
      for (const line of result.timings) t.diagnostic(line);
      for (const r of result.modes) checkSanity(t, 'zfspool', r, result.driverLog);
      for (const r of result.modes) process.stdout.write(`SANITY zfspool/${r.mode}: ${r.summary} (${(r.durationMs / 1000).toFixed(0)} s)\n`);
    } finally {
      await z.lab.close();
      process.stdout.write(`ZFS sanity wall time: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
  });
