// Memory of `poolcsi serve --mode node` and `--mode controller` on this machine (a dir pool):
// resident set size (VmRSS) once idle, right after 10,000 CSI requests, and after settling again.
//   node dist/test/bench/memory.js [--requests 10000]
// Prints one JSON line (MemoryResult[]). The driver is started exactly as in production (no
// extra V8 flags unless NODE_OPTIONS says so).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';
import { waitFor } from '../../src/exec/index.js';

const DRIVER = fileURLToPath(new URL('../../src/cli/main.cjs', import.meta.url));

export interface MemoryResult {
  mode: 'node' | 'controller';
  idleMiB: number;
  requests: number;
  /** What the requests were. */
  mix: string;
  requestsPerSecond: number;
  afterMiB: number;
  /** After the requests and a settling pause: what stays. */
  settledMiB: number;
}

async function rssMiB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(m[1]) / 102.4) / 10;
}

/** RSS once it stops moving: the median of 5 samples 200 ms apart, after `settleMs`. */
async function settled(pid: number, settleMs: number): Promise<number> {
  await new Promise((r) => setTimeout(r, settleMs));
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) { xs.push(await rssMiB(pid)); await new Promise((r) => setTimeout(r, 200)); }
  return xs.sort((a, b) => a - b)[2]!;
}

type Unary = (req: object, cb: (e: grpc.ServiceError | null, r?: any) => void) => void;
const call = (c: grpc.Client, m: string, req: object) => new Promise<any>((resolve, reject) => {
  (c as unknown as Record<string, Unary>)[m]!.call(c, req, (e, r) => (e ? reject(e) : resolve(r)));
});

export async function measureMode(mode: 'node' | 'controller', requests: number): Promise<MemoryResult> {
  const work = await mkdtemp(join(tmpdir(), 'poolcsi-mem-'));
  const socket = join(work, 'csi.sock');
  await mkdir(join(work, 'pool'));
  await writeFile(join(work, 'pools.yaml'), `pools:\n  - {id: d, type: dir, path: ${join(work, 'pool')}}\n`);
  const driver = spawn(process.execPath, [DRIVER, 'serve', '--mode', mode, '--endpoint', `unix://${socket}`, '--node-id', 'bench',
    '--pools-file', join(work, 'pools.yaml'), '--state-dir', join(work, 'state'), '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => driver.once('exit', () => r()));
  const csi = loadCsi();
  const id = new csi.Identity(`unix://${socket}`, grpc.credentials.createInsecure());
  const ctl = new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure());
  const node = new csi.Node(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    await waitFor(async () => { await call(id, 'Probe', {}); return true; }, { timeoutMs: 30_000, what: 'the driver socket' });
    const idleMiB = await settled(driver.pid!, 3000);
    const cap = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    // The calls a kubelet and the sidecars repeat, 8 in flight at a time. A controller alone
    // serves node-local pools through agents only: its CreateVolume for the dir pool is refused
    // after validation and placement (the path every request walks), and logged.
    const topo = { requisite: [{ segments: { 'topology.poolcsi.io/node': 'bench' } }] };
    const one = mode === 'controller'
      ? async (k: number) => {
        await call(ctl, 'CreateVolume', {
          name: `m-${k}`, capacity_range: { required_bytes: '1048576' }, parameters: { pool: 'd' }, volume_capabilities: [cap], accessibility_requirements: topo,
        }).catch(() => undefined);
        await call(ctl, 'ControllerGetCapabilities', {});
      }
      : async (k: number) => {
        await call(node, k % 2 ? 'NodeGetInfo' : 'NodeGetCapabilities', {});
        await call(id, 'Probe', {});
      };
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => { while (next < requests / 2) await one(next++); }));
    const secs = (performance.now() - t0) / 1000;
    const afterMiB = await rssMiB(driver.pid!);
    const settledMiB = await settled(driver.pid!, 5000);
    return {
      mode, idleMiB, requests,
      mix: mode === 'controller' ? 'CreateVolume (refused: no agent) + ControllerGetCapabilities' : 'NodeGetInfo or NodeGetCapabilities, + Probe',
      requestsPerSecond: Math.round(requests / secs), afterMiB, settledMiB,
    };
  } finally {
    for (const c of [id, ctl, node]) c.close();
    driver.kill('SIGTERM');
    await exited;
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '10000' } }, strict: true });
  const out: MemoryResult[] = [];
  for (const mode of ['node', 'controller'] as const) out.push(await measureMode(mode, Number(values.requests)));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => { process.stderr.write(`memory: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
