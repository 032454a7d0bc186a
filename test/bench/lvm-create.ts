// Benchmark: CreateVolume through the driver's gRPC socket vs a bare lvcreate of the same size,
// interleaved round by round in one run, on a node with a real VG (run it in a lab node; it
// needs root and LVM). Prints one JSON line per pool type and a summary line.
//
//   node dist/test/bench/lvm-create.js --vg labvg [--thinpool thin] [--rounds 20] [--size-mib 64]
//
// The driver runs as `poolcsi serve --mode all` (a child process, like in production: one
// process serving the CSI socket); each CreateVolume is a fresh name, so nothing is answered
// from an earlier call. Volumes of both kinds are removed after each round, untimed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';
import { local, waitFor } from '../../src/exec/index.js';

const DRIVER = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };

export interface BenchResult {
  pool: 'lvm' | 'lvmthin';
  rounds: number;
  sizeBytes: number;
  driverMedianMs: number;
  bareMedianMs: number;
  /** driver median / bare median. */
  ratio: number;
  driverMs: number[];
  bareMs: number[];
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

type Unary = (req: object, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void;

function call(client: grpc.Client, method: string, req: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Unary>)[method]!.call(client, req, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { vg: { type: 'string' }, thinpool: { type: 'string' }, rounds: { type: 'string' }, 'size-mib': { type: 'string' } },
  });
  const vg = values.vg;
  if (!vg) throw new Error('--vg is required');
  const rounds = Number(values.rounds ?? 20);
  const size = Number(values['size-mib'] ?? 64) * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-bench-'));
  const socket = join(dir, 'csi.sock');
  await writeFile(join(dir, 'pools.yaml'), [
    'pools:',
    `  - {id: bench, type: lvm, vgname: ${vg}}`,
    ...(values.thinpool ? [`  - {id: benchthin, type: lvmthin, vgname: ${vg}, thinpool: ${values.thinpool}, overprovision: 100}`] : []),
  ].join('\n') + '\n');
  const driver = execa(process.execPath, [DRIVER, 'serve', '--mode', 'all', '--endpoint', `unix://${socket}`, '--node-id', 'bench',
    '--pools-file', join(dir, 'pools.yaml'), '--state-dir', join(dir, 'state'), '--log-level', 'warn'], { reject: false, stdio: ['ignore', 'inherit', 'inherit'] });
  const csi = loadCsi();
  const client = new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    await waitFor(async () => { await call(client, 'ControllerGetCapabilities', {}); return true; }, { timeoutMs: 30_000, what: 'the driver socket' });
    const kinds: Array<'lvm' | 'lvmthin'> = values.thinpool ? ['lvm', 'lvmthin'] : ['lvm'];
    const results: BenchResult[] = [];
    for (const kind of kinds) {
      const pool = kind === 'lvm' ? 'bench' : 'benchthin';
      const driverMs: number[] = [];
      const bareMs: number[] = [];
      // One untimed round first: the driver reads the VG's extent size once, the kernel warms up.
      for (let i = -1; i < rounds; i++) {
        const name = `bench-${kind}-${i + 1}`;
        const bare = `bare-${kind}-${i + 1}`;
        const t0 = performance.now();
        await call(client, 'CreateVolume', {
          name, capacity_range: { required_bytes: String(size) }, parameters: { pool },
          volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
          accessibility_requirements: { requisite: [{ segments: { 'topology.poolcsi.io/node': 'bench' } }] },
        });
        const t1 = performance.now();
        const args = kind === 'lvm' ? ['-q', '-L', `${size}b`, '-n', bare, vg] : ['-q', '-V', `${size}b`, '-T', `${vg}/${values.thinpool}`, '-n', bare];
        await local.run('lvcreate', args, { env: ENV, timeoutMs: 120_000 });
        const t2 = performance.now();
        if (i >= 0) { driverMs.push(t1 - t0); bareMs.push(t2 - t1); }
        await call(client, 'DeleteVolume', { volume_id: `${pool}:${name}` });
        await local.run('lvremove', ['-q', '-y', `${vg}/${bare}`], { env: ENV, timeoutMs: 120_000 });
      }
      const r: BenchResult = {
        pool: kind, rounds, sizeBytes: size,
        driverMedianMs: Math.round(median(driverMs)), bareMedianMs: Math.round(median(bareMs)),
        ratio: Number((median(driverMs) / median(bareMs)).toFixed(3)),
        driverMs: driverMs.map(Math.round), bareMs: bareMs.map(Math.round),
      };
      results.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    for (const r of results) {
      process.stdout.write(`BENCH ${r.pool}: CreateVolume median ${r.driverMedianMs} ms vs bare lvcreate median ${r.bareMedianMs} ms over ${r.rounds} rounds: ratio ${r.ratio}\n`);
    }
  } finally {
    client.close();
    driver.kill('SIGTERM');
    await driver;
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => { process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
