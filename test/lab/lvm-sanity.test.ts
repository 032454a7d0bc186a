// csi-sanity against `poolcsi serve --mode all` with an lvm and an lvmthin pool, inside a lab
// node with real device-mapper (VG labvg on a loop device, thin pool labvg/thin): each pool
// type in mount and block access mode, 4 runs, each with zero failures.
import { test } from 'node:test';
import { runSanity } from './harness/index.js';
import { checkSanity } from '../sanity/check.js';

const POOLS = `pools:
  - {id: thick, type: lvm, vgname: labvg}
  - {id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 20}
`;

// Small volumes: thick LVs take their whole size from the 16 GiB VG, and csi-sanity keeps
// several at once. Expansion goes 64 → 128 MiB.
const SIZES = ['--csi.testvolumesize=67108864', '--csi.testvolumeexpandsize=134217728'];


for (const pool of ['thick', 'thin'] as const) {
  const type = pool === 'thick' ? 'lvm' : 'lvmthin';
  test(`csi-sanity passes against an ${type} pool in a lab node (mount and block)`, { timeout: 60 * 60_000 }, async (t) => {
    const result = await runSanity({
      name: `sanity-${type}`,
      services: ['lvm'],
      nodeId: `sanity-${type}`,
      poolsYaml: POOLS,
      volumeParameters: { pool },
      sanityArgs: SIZES,
      modes: ['mount', 'block'],
      memMiB: 1536,
    });
    for (const line of result.timings) t.diagnostic(line);
    for (const r of result.modes) checkSanity(t, type, r, result.driverLog);
    // The summary lines, also on stdout for the run's report.
    for (const r of result.modes) process.stdout.write(`SANITY ${type}/${r.mode}: ${r.summary}\n`);
  });
}
