// The short benchmark for CI (the full one is `npm run bench`, docs/performance.md): the dir
// pool on this machine, and the lvmthin and nfs pools in one lab node, each CSI operation
// against its bare command in the same run, interleaved. These machines are shared and noisy,
// so it fails only when an operation is far off: more than 2× its bare command (or the bound
// of a known gap, KNOWN) and more than 100 ms slower (a few milliseconds of gRPC on a 5 ms
// mkdir is not a regression), or 50 concurrent creates slower than twice the same creates run
// bare one after the other. Also reports the memory of serve --mode node and --mode controller
// and the programs run at rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSuite, formatTable, type SuiteResult } from '../bench/suite.js';

const FAR = 2;
const SLACK_MS = 100;
/** Operations known to be over 2× (the gaps issue 16 names), held to the bound measured, doubled. */
const KNOWN: Record<string, { bound: number; why: string }> = {
  // Two bind mounts (staging, then target) and the stage stash written with fsync, against one bind.
  'dir NodeStage+NodePublish': { bound: 10, why: 'two mounts and a synced stash file against one mount --bind' },
  // cp -a plus the snapshot's own state file (written, synced, renamed) and its directory.
  'dir CreateSnapshot': { bound: 8, why: 'cp -a plus a synced state file' },
  'dir clone': { bound: 8, why: 'cp -a plus a synced state file' },
  // The volume read (one `lvs` of the VG: is it ours, in what state) before the change: 2
  // programs against 1, and in a lab node a report costs as much as the change. 1.3 to 1.7× in
  // the full runs; 2.1× (CreateSnapshot) in a CI run with the other lab lanes beside it, and
  // 2.2× (DeleteVolume) in a quiet run.
  'lvmthin DeleteVolume': { bound: 3, why: 'an lvs before lvremove: 2 programs against 1' },
  'lvmthin CreateSnapshot': { bound: 3, why: 'an lvs before lvcreate -s: 2 programs against 1' },
  'lvmthin expand': { bound: 3, why: 'an lvs before lvextend: 2 programs against 1' },
  'lvmthin clone': { bound: 3, why: 'an lvs before lvcreate -s -kn: 2 programs against 1' },
  // blkid before mkfs (never format data): 4 programs against 3; 1.4 to 1.9×.
  'lvmthin NodeStage+NodePublish': { bound: 3, why: 'blkid before mkfs: 4 programs against 3' },
};

function check(t: { diagnostic(m: string): void }, r: SuiteResult): void {
  for (const line of formatTable(r).split('\n')) if (line) t.diagnostic(line);
  assert.deepEqual(r.failed ?? [], [], 'a pool type\'s run failed');
  const far: string[] = [];
  for (const k of r.kinds) {
    for (const o of k.ops) {
      const known = KNOWN[`${k.kind} ${o.op}`];
      if (o.ratio !== undefined && o.ratio > (known?.bound ?? FAR) && o.driverMedianMs - o.bareMedianMs! > SLACK_MS) {
        far.push(`${k.kind} ${o.op}: ${o.driverMedianMs} ms vs ${o.bareMedianMs} ms for ${o.bare} (${o.ratio}×)`);
      }
    }
    if (k.batch.ratio > FAR) far.push(`${k.kind}: ${k.batch.n} concurrent CreateVolume ${k.batch.concurrentCreateMs} ms vs ${k.batch.serialBareMs} ms bare in a row (${k.batch.ratio}×)`);
  }
  assert.deepEqual(far, [], `far off (> ${FAR}× and > ${SLACK_MS} ms):\n${far.join('\n')}`);
}

test('dir on this machine: no operation far off its bare command; memory reported', { timeout: 15 * 60_000 }, async (t) => {
  const r = await runSuite({ kinds: ['dir'], rounds: 5, batch: 50, restSeconds: 5, requests: 2000, sizeMiB: 64 }, 'node --test dist/test/lab/bench.test.js (dir)');
  check(t, r);
  // Idle RSS is 65 to 67 MiB (docs/performance.md); a heavy module loaded at start, or V8's
  // flags lost (73 to 74 MiB without them), passes 76 MiB and fails.
  for (const m of r.memory) assert.ok(m.idleMiB < 76, `serve --mode ${m.mode}: idle RSS ${m.idleMiB} MiB`);
});

// Block storage through LVM's commands and a network file system through the kernel's NFS
// server, in one node (BENCH_LAB=0 leaves it out).
test('lvmthin and nfs in a lab node: no operation far off its bare command', { timeout: 30 * 60_000, skip: process.env.BENCH_LAB === '0' && 'BENCH_LAB=0' }, async (t) => {
  const r = await runSuite({ kinds: ['lvmthin', 'nfs'], rounds: 3, batch: 10, restSeconds: 5, requests: 0, sizeMiB: 32 }, 'node --test dist/test/lab/bench.test.js (lvmthin, nfs)');
  check(t, r);
  for (const k of r.kinds) process.stdout.write(`BENCH ${k.kind}: ${k.ops.map((o) => `${o.op} ${o.ratio ?? '–'}×`).join(', ')}; ${k.batch.n} creates at once ${k.batch.ratio}×\n`);
});
