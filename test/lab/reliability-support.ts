// What the reliability lab files share: a harness lane run inside a lab node (its socket and the
// backend's tools are local there), its JSON report read back and judged: enough kills to have
// proved something, and no problem that is not a known defect (test/reliability/known.ts).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { NODE_ENV, REPO_ROOT, type LabNode } from './harness/index.js';
import { classify, KNOWN } from '../reliability/known.js';

const RUN_JS = join(REPO_ROOT, 'dist', 'test', 'reliability', 'run.js');
const OUTAGE_JS = join(REPO_ROOT, 'dist', 'test', 'reliability', 'outage.js');
const SEED = Number(process.env.REL_SEED ?? 20261201);
/** REL_LAB_SCALE=0.5 halves operations and fuzz requests (a loaded machine). */
const SCALE = Number(process.env.REL_LAB_SCALE ?? 1);

export const sized = (ops: number, fuzz: number, stage: number): string[] =>
  ['--ops', String(Math.round(ops * SCALE)), '--fuzz', String(Math.round(fuzz * SCALE)), '--stage-rounds', String(Math.max(1, Math.round(stage * SCALE)))];

export async function runLaneIn(node: LabNode, t: TestContext, type: string, args: string[], timeoutMs: number): Promise<void> {
  const json = join(node.runDir, `rel-${type}.json`);
  const r = await node.exec([process.execPath, RUN_JS, '--type', type, '--seed', String(SEED), '--node-id', node.name, '--root', `/tmp/rel-${type}`,
    '--json', json, ...args], { env: NODE_ENV, timeoutMs });
  // The driver's log (every call and program) kept with the lab's artifacts, for a failure's reader.
  await node.exec(['cp', `/tmp/rel-${type}/driver.log`, join(node.logDir, `rel-${type}-driver.log`)]);
  for (const l of r.stderr.trim().split('\n').filter((x) => !x.startsWith('CRASH ')).slice(-3)) t.diagnostic(l);
  const crashLine = r.stderr.split('\n').find((x) => x.startsWith('CRASH '));
  if (crashLine) {
    const c = JSON.parse(crashLine.slice(6)) as { ops: number; kills: number; retries: number; leaks: string[]; losses: string[]; strays: string[]; afterDrain: string[]; stageRounds: number; problems: string[] };
    t.diagnostic(`${type} crash: ${c.ops} ops, ${c.kills} kills, ${c.retries} retries, ${c.leaks.length} leaks, ${c.losses.length} losses, ${c.strays.length} strays, ${c.afterDrain.length} left after drain, ${c.stageRounds} stage rounds; problems: ${JSON.stringify(c.problems)}`);
  }
  assert.ok(!r.timedOut, `the ${type} run passed its deadline:\n${r.stderr.slice(-3000)}`);
  assert.ok(existsSync(json), `the ${type} run wrote no report (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  const out = JSON.parse(readFileSync(json, 'utf8')) as { problems: string[]; report: { crash?: { kills: number; ops: number } } };
  const { known, fresh } = classify(out.problems);
  for (const k of known) t.diagnostic(`known defect ${k.id}: ${k.problem}`);
  // Kill points are seeded, but whether one lands inside an operation depends on timing: the
  // CI size (20 operations) has shown 4 to 9; fewer than 3 means the run proved little.
  assert.ok((out.report.crash?.kills ?? 0) >= 3, `only ${out.report.crash?.kills} kills`);
  assert.deepEqual(fresh, [], `problems in the ${type} lane (report ${json}; known: ${KNOWN.map((k) => k.id).join(', ')})`);
}


/** outage.ts in the node: `down`, `up` and `ready` are argv run there; problems not known fail. */
export async function runOutageIn(node: LabNode, t: TestContext, type: string, cmds: { down: string[]; up: string[]; ready: string[] }, timeoutSeconds = 5, extra: string[] = []): Promise<void> {
  const json = join(node.runDir, `rel-outage-${type}.json`);
  const r = await node.exec([process.execPath, OUTAGE_JS, '--type', type, '--timeout-seconds', String(timeoutSeconds), '--json', json,
    '--down', JSON.stringify(cmds.down), '--up', JSON.stringify(cmds.up), '--ready', JSON.stringify(cmds.ready),
    '--driver-log', join(node.logDir, `driver-outage-${type}.log`), ...extra], { env: NODE_ENV, timeoutMs: 12 * 60_000 });
  for (const l of r.stderr.trim().split('\n')) t.diagnostic(l);
  assert.ok(!r.timedOut, 'the outage run passed its deadline');
  assert.ok(existsSync(json), `the ${type} outage run wrote no report (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  const out = JSON.parse(readFileSync(json, 'utf8')) as { problems: string[]; worstMs: number };
  const { known, fresh } = classify(out.problems.map((p) => `${type} outage: ${p}`));
  for (const k of known) t.diagnostic(`known defect ${k.id}: ${k.problem}`);
  assert.deepEqual(fresh, []);
}
