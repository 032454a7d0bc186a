// The reliability harness against a dir pool on this machine (root: bind mounts), at the size
// issue 12 names for CI: 200 crash operations with SIGKILLs, NodeStage/NodeUnstage killed
// mid-call, and 10,000 proto-driven fuzz requests (about a minute and a half on the host; the
// lab lanes run smaller sizes, their backends' commands take seconds).
// Larger runs: npm run test:reliability -- --types dir --ops N --seed S.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { problems, runLane, summary } from './core/suite.js';
import { unmountUnder } from './core/cleanup.js';
import { dirFuzzSetup, dirLane } from './lanes/dir.js';
import { classify, KNOWN } from './known.js';

const SEED = Number(process.env.REL_SEED ?? 20261201);
const OPS = 200;
const FUZZ = 10_000;

test('dir pool: no leak, loss, stray or crash under SIGKILL and fuzz', { timeout: 20 * 60_000 }, async (t) => {
  const s = await dirLane();
  const fuzzSetup = await dirFuzzSetup(s);
  try {
    const r = await runLane(s.lane, s.driver, { seed: SEED, ops: OPS, killRate: 0.25, stageRounds: 4, fuzz: FUZZ, fuzzSetup, log: (m) => t.diagnostic(m) });
    const c = r.crash!;
    const f = r.fuzz!;
    const found = problems(r);
    t.diagnostic(`${summary(r, SEED, found.length, s.root)} (${(c.wallMs / 1000).toFixed(0)} s crash)`);
    const { known, fresh, unused } = classify(found);
    for (const k of known) t.diagnostic(`known defect ${k.id}: ${k.problem}`);
    for (const u of unused) t.diagnostic(`known defect ${u} (${KNOWN.find((k) => k.id === u)!.what.slice(0, 60)}...) did not show this run`);
    assert.ok(c.kills >= 10, `only ${c.kills} kills`);
    assert.equal(c.ops, OPS);
    assert.equal(f.requests, FUZZ);
    assert.deepEqual(fresh, [], `problems (scratch ${s.root}, driver log ${s.driver.o.logFile})`);
  } finally {
    await s.driver.stop();
    unmountUnder(s.lane.stagingRoot!);
  }
});
