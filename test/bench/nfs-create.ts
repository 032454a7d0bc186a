// Benchmark: CreateVolume of an nfs pool through gRPC vs a bare `mkdir` on the same export,
// mounted the way an operator would, in one lab node, same run, rounds interleaved.
//   npm run build && node dist/test/bench/nfs-create.js [--rounds 20]
// Inside the node the same file runs with --inside SOCKET --bare DIR: a gRPC client held open
// for all rounds (so the driver's whole cost is measured: gRPC, validation, the export probe,
// state file writes), mkdir(1) run as a program, as a person would, and mkdir(2) alone.
// nfs-cluster.test.ts runs the --inside part too and reports it.
import { execFile } from 'node:child_process';
import { mkdir, rmdir } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';

const run = promisify(execFile);
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface NfsBenchResult {
  rounds: number; driver: number[]; bare: number[]; syscall: number[];
  driverMedian: number; bareMedian: number; syscallMedian: number;
}

async function inside(socket: string, bareDir: string, pool: string, rounds: number): Promise<void> {
  const csi = loadCsi() as unknown as { Controller: new (a: string, c: grpc.ChannelCredentials) => grpc.Client };
  const client = new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure());
  const call = (method: string, req: object) => new Promise<void>((resolve, reject) => {
    (client as unknown as Record<string, (r: object, cb: (e: Error | null) => void) => void>)[method]!.call(client, req, (e) => (e ? reject(e) : resolve()));
  });
  const cap = { access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} };
  const create = (name: string) => call('CreateVolume', { name, capacity_range: { required_bytes: String(1 << 30) }, volume_capabilities: [cap], parameters: { pool } });
  await create('bench-warm');
  await run('mkdir', ['--', `${bareDir}/bare-warm`]);
  const driver: number[] = [];
  const bare: number[] = [];
  const syscall: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await create(`bench-${i}`);
    driver.push(performance.now() - t);
    t = performance.now();
    await run('mkdir', ['--', `${bareDir}/bare-${i}`]);
    bare.push(performance.now() - t);
    t = performance.now();
    await mkdir(`${bareDir}/sys-${i}`);
    syscall.push(performance.now() - t);
  }
  for (let i = 0; i < rounds; i++) {
    await call('DeleteVolume', { volume_id: `${pool}:bench-${i}` });
    await run('rmdir', ['--', `${bareDir}/bare-${i}`]);
    await rmdir(`${bareDir}/sys-${i}`);
  }
  await call('DeleteVolume', { volume_id: `${pool}:bench-warm` });
  await run('rmdir', ['--', `${bareDir}/bare-warm`]);
  client.close();
  const r: NfsBenchResult = { rounds, driver, bare, syscall, driverMedian: median(driver), bareMedian: median(bare), syscallMedian: median(syscall) };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

export function formatBench(r: NfsBenchResult, what: string): string[] {
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  return [
    `nfs CreateVolume benchmark (${r.rounds} rounds, ${what}, interleaved)`,
    `  CreateVolume via gRPC    median ${ms(r.driverMedian)}`,
    `  bare mkdir on the export median ${ms(r.bareMedian)} (the mkdir program, as an operator runs it)`,
    `  mkdir(2) on the export   median ${ms(r.syscallMedian)} (the system call alone, no process start)`,
    `  ratio to mkdir           ${(r.driverMedian / r.bareMedian).toFixed(2)}`,
  ];
}

export const BENCH_MAIN = fileURLToPath(import.meta.url);

async function host(rounds: number): Promise<void> {
  const { startDriver, startLab } = await import('../lab/harness/index.js');
  const { writeIn } = await import('../lab/rbd-support.js');
  const lab = await startLab({ name: 'bench-nfs', nodes: [{ name: 'bench', services: ['nfs'], memMiB: 1024 }] });
  try {
    const node = lab.node('bench');
    await writeIn(node, '/run/lab/nfs/pools.yaml', 'pools:\n  - id: shared\n    type: nfs\n    server: 127.0.0.1\n    export: /srv/nfs\n    options: [vers=4.2]\n');
    await node.run(['mkdir', '-p', '/mnt/bare']);
    await node.run(['mount', '-t', 'nfs', '-o', 'vers=4.2', '127.0.0.1:/srv/nfs', '/mnt/bare'], { timeoutMs: 60_000 });
    const d = await startDriver(node, { mode: 'controller', nodeId: 'bench', poolsFile: '/run/lab/nfs/pools.yaml', args: ['--log-level', 'info'], logName: 'bench-driver.log' });
    const r = await node.run([process.execPath, BENCH_MAIN, '--inside', d.socket, '--bare', '/mnt/bare', '--rounds', String(rounds)], { timeoutMs: 60 * 60_000 });
    await d.stop();
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as NfsBenchResult;
    process.stdout.write(`${formatBench(res, 'NFSv4.2 over loopback, one UML lab node').join('\n')}\n`);
  } finally {
    await lab.close();
  }
}

if (process.argv[1] === BENCH_MAIN) {
  const { values } = parseArgs({
    options: { inside: { type: 'string' }, bare: { type: 'string' }, pool: { type: 'string', default: 'shared' }, rounds: { type: 'string', default: '20' } },
    strict: true,
  });
  const rounds = Number(values.rounds);
  if (values.inside) await inside(values.inside, values.bare ?? '/mnt/bare', values.pool!, rounds);
  else await host(rounds);
}
