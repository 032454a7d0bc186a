// npm run test:reliability -- [--types dir,lvm,lvmthin,rbd,nfs,iscsi] [--ops N] [--seed S] [--fuzz N] [--stage-rounds N] [--no-outage]
// A longer, bounded run of the whole harness: dir on this machine, the others in one lab node
// (lvm, and ceph, nfs, LIO + open-iscsi as the types need), then the Ceph monitor outage. Prints one line of figures per lane (the
// lines docs/reliability.md quotes) and every problem; exit 1 when anything new was found.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { classify } from './known.js';

const { values: a } = parseArgs({ options: {
  types: { type: 'string', default: 'dir' }, ops: { type: 'string', default: '300' }, seed: { type: 'string', default: String(Date.now() % 1_000_000) },
  fuzz: { type: 'string', default: '5000' }, 'stage-rounds': { type: 'string', default: '6' }, 'no-outage': { type: 'boolean', default: false },
} });
const types = a.types!.split(',').filter(Boolean);
const here = fileURLToPath(new URL('.', import.meta.url));
const RUN = join(here, 'run.js');
const common = ['--ops', a.ops!, '--seed', a.seed!, '--fuzz', a.fuzz!, '--stage-rounds', a['stage-rounds']!];
const out = mkdtempSync(join(tmpdir(), 'poolcsi-soak-'));
const lines: string[] = [];
const problems: string[] = [];

interface Result { problems: string[]; report: any }
function summarize(type: string, file: string, ms: number): void {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Result;
  const c = j.report.crash;
  const f = j.report.fuzz;
  lines.push(`${type} seed ${a.seed}: ${c ? `${c.ops} ops, ${c.kills} kills, ${c.retries} retries, ${c.leaks.length} leaks, ${c.losses.length} losses, `
    + `${c.strays.length} strays, ${c.listedNotBelieved.length} half-made listed, ${c.afterDrain.length} left after drain, ${c.stageRounds} stage rounds (${c.stageFindings.length} bad)` : ''}`
    + `${f ? `; fuzz ${f.requests} requests (${f.raw} raw, ${f.undecodable} undecodable), ${f.execs} programs run, ${f.findings.length} bad answers, ${f.argvFindings.length} bad argv, `
      + `${f.fsCreated.length + f.fsRemoved.length} fs changes, ${f.crashes.length} crashes, slowest ${f.slowest.ms} ms` : ''}; ${(ms / 1000).toFixed(0)} s`);
  problems.push(...j.problems);
}

if (types.includes('dir')) {
  const file = join(out, 'dir.json');
  const t0 = Date.now();
  spawnSync(process.execPath, [RUN, '--type', 'dir', ...common, '--json', file], { stdio: ['ignore', 'inherit', 'inherit'] });
  summarize('dir', file, Date.now() - t0);
}

const labTypes = types.filter((t) => t !== 'dir');
if (labTypes.length) {
  const { startLab, NODE_ENV } = await import('../lab/harness/index.js');
  const { cephKey, startMgr, writeSecretDir } = await import('../lab/rbd-support.js');
  // Each lane type needs its services in the node (nfs: the node's own export; iscsi: LIO and open-iscsi).
  const services: Array<'lvm' | 'ceph' | 'nfs' | 'iscsi-target' | 'iscsi-initiator'> = ['lvm', ...(labTypes.includes('rbd') ? ['ceph' as const] : []), ...(labTypes.includes('nfs') ? ['nfs' as const] : []),
    ...(labTypes.includes('iscsi') ? ['iscsi-target' as const, 'iscsi-initiator' as const] : [])];
  const lab = await startLab({ name: 'reliability-soak', nodes: [{ name: 'soak', services, memMiB: 2048 }] });
  try {
    const node = lab.node('soak');
    for (const type of labTypes) {
      if (type === 'rbd') { await writeSecretDir(node, '/run/lab/rbd/secrets', await cephKey(node)); await startMgr(node); }
      const file = join(node.runDir, `${type}.json`);
      const t0 = Date.now();
      const r = await node.exec([process.execPath, RUN, '--type', type, ...common, '--node-id', 'soak', '--root', `/tmp/rel-${type}`, '--json', file],
        { env: NODE_ENV, timeoutMs: 4 * 3600_000 });
      process.stderr.write(r.stderr);
      summarize(type, file, Date.now() - t0);
    }
    if (labTypes.includes('rbd') && !a['no-outage']) {
      const file = join(node.runDir, 'outage.json');
      const r = await node.exec([process.execPath, join(here, 'outage.js'), '--type', 'rbd', '--timeout-seconds', '5', '--json', file,
        '--down', '["pkill","-x","ceph-mon"]', '--up', '["ceph-mon","-i","a"]', '--ready', '["ceph","health","--connect-timeout","5"]'], { env: NODE_ENV, timeoutMs: 30 * 60_000 });
      process.stderr.write(r.stderr);
      const j = JSON.parse(readFileSync(file, 'utf8')) as { problems: string[]; worstMs: number; rows: Array<{ phase: string; rpc: string; code: string; ms: number }> };
      lines.push(`rbd monitors down: ${j.rows.length} calls, worst answer ${j.worstMs} ms with timeoutSeconds 5, ${j.problems.length} problems`);
      problems.push(...j.problems.map((p) => `rbd outage: ${p}`));
    }
  } finally {
    await lab.close();
  }
}

const { known, fresh } = classify(problems);
for (const k of known) console.log(`KNOWN ${k.id}: ${k.problem}`);
for (const p of fresh) console.log(`PROBLEM ${p}`);
for (const l of lines) console.log(`FIGURES ${l}`);
console.log(`reports in ${out}${labTypes.length ? ' and the lab run directory' : ''}; ${fresh.length} new problems, ${known.length} known`);
process.exitCode = fresh.length ? 1 : 0;
