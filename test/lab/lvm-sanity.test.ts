// csi-sanity against `poolcsi serve --mode all` with an lvm and an lvmthin pool, inside a lab
// node with real device-mapper (VG labvg on a loop device, thin pool labvg/thin): each pool
// type in mount and block access mode, 4 runs, each with zero failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSanity, type SanityModeResult } from './harness/index.js';
import { SKIP_REASONS } from '../sanity/skips.js';

const POOLS = `pools:
  - {id: thick, type: lvm, vgname: labvg}
  - {id: thin, type: lvmthin, vgname: labvg, thinpool: thin, overprovision: 20}
`;

// Small volumes: thick LVs take their whole size from the 16 GiB VG, and csi-sanity keeps
// several at once. Expansion goes 64 → 128 MiB.
const SIZES = ['--csi.testvolumesize=67108864', '--csi.testvolumeexpandsize=134217728'];

function check(t: { diagnostic(m: string): void }, pool: string, r: SanityModeResult, driverLog: string): void {
  t.diagnostic(`csi-sanity ${pool}/${r.mode}: ${r.summary}`);
  const failures = r.specs.filter((s) => !['passed', 'skipped', 'pending'].includes(s.state));
  assert.equal(r.failed, 0, `failed specs:\n${failures.map((f) => `- ${f.text}: ${f.failure ?? f.state}`).join('\n')}\n(output: ${r.outputFile}; driver log: ${driverLog})`);
  assert.ok(r.passed > 50, `too few specs passed: ${r.summary}`);
  const unexplained = r.specs.filter((s) => s.state === 'skipped' && !SKIP_REASONS.some((k) => k.match.test(s.text)));
  assert.deepEqual(unexplained.map((s) => s.text), [], 'skipped specs without a written reason in test/sanity/skips.ts');
}

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
    for (const r of result.modes) check(t, type, r, result.driverLog);
    // The summary lines, also on stdout for the run's report.
    for (const r of result.modes) process.stdout.write(`SANITY ${type}/${r.mode}: ${r.summary}\n`);
  });
}
