// The LVM create benchmark (test/bench/lvm-create.ts) in a lab node: CreateVolume through the
// driver's gRPC socket vs a bare lvcreate of the same size, 20 rounds each, interleaved, for a
// thick and a thin pool. Reports the median ratios; fails only on a gross regression (the
// target is 1.2; the lab's timings are noisy under load).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NODE_ENV, withLab } from './harness/index.js';

const BENCH = fileURLToPath(new URL('../bench/lvm-create.js', import.meta.url));

test('CreateVolume costs about one lvcreate (median of 20 rounds)', { timeout: 30 * 60_000 }, async (t) => {
  await withLab({ name: 'lvm-bench', nodes: [{ name: 'lvm-bench', services: ['lvm'], memMiB: 1024 }] }, async (lab) => {
    const r = await lab.node('lvm-bench').run([process.execPath, BENCH, '--vg', 'labvg', '--thinpool', 'thin', '--rounds', '20', '--size-mib', '64'],
      { env: { ...NODE_ENV }, timeoutMs: 25 * 60_000 });
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('BENCH'));
    for (const l of lines) { t.diagnostic(l); process.stdout.write(`${l}\n`); }
    const results = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { pool: string; ratio: number });
    assert.equal(results.length, 2);
    for (const x of results) assert.ok(x.ratio < 1.5, `${x.pool}: ratio ${x.ratio}`);
  });
});
