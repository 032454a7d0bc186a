// What every csi-sanity run must show: no failed spec (each failure listed with where to look),
// enough specs passed to be the whole suite, and every skipped spec explained in skips.ts.
import assert from 'node:assert/strict';
import { SKIP_REASONS, TYPE_SKIPS } from './skips.js';

export interface SanityOutcome {
  mode?: string;
  summary: string;
  passed: number;
  failed: number;
  specs: Array<{ text: string; state: string; failure?: string }>;
  outputFile?: string;
}

/** Asserts a run's outcome; `label` names it (e.g. "lvmthin/block") in the diagnostic line; `type`'s own skips (skips.ts TYPE_SKIPS) count as explained. */
export function checkSanity(t: { diagnostic(m: string): void }, label: string, r: SanityOutcome, driverLog: string, minPassed = 50, type?: string): void {
  const reasons = [...SKIP_REASONS, ...(type ? TYPE_SKIPS[type] ?? [] : [])];
  const name = r.mode ? `${label}/${r.mode}` : label;
  t.diagnostic(`csi-sanity ${name}: ${r.summary}`);
  const failures = r.specs.filter((s) => !['passed', 'skipped', 'pending'].includes(s.state));
  const where = `(${r.outputFile ? `output: ${r.outputFile}; ` : ''}driver log: ${driverLog})`;
  assert.equal(r.failed, 0, `${name}: failed specs:\n${failures.map((f) => `- ${f.text}: ${f.failure ?? f.state}`).join('\n')}\n${where}`);
  assert.ok(r.passed >= minPassed, `${name}: too few specs passed: ${r.summary}`);
  const unexplained = r.specs.filter((s) => s.state === 'skipped' && !reasons.some((k) => k.match.test(s.text)));
  assert.deepEqual(unexplained.map((s) => s.text), [], `${name}: skipped specs without a written reason in test/sanity/skips.ts`);
}
