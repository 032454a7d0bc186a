// Benchmark: CreateVolume through gRPC vs a bare `rbd create` of the same size, in one lab
// node, same run, rounds interleaved (so both see the same cluster and the same load).
//   npm run build && node dist/test/bench/rbd-create.js [--rounds 20] [--size-mib 64]
// Prints the medians and the ratio. Inside the node the same file runs with --inside: a
// gRPC client held open for all rounds, and rbd run the way an operator would (ceph.conf +
// admin keyring), so the ratio is the driver's whole cost: gRPC, validation, credentials
// file, argv, state metadata.
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';

const run = promisify(execFile);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function inside(socket: string, rounds: number, sizeMiB: number): Promise<void> {
  const key = (await run('ceph', ['auth', 'print-key', 'client.admin'])).stdout.trim();
  const csi = loadCsi() as unknown as { Controller: new (a: string, c: grpc.ChannelCredentials) => grpc.Client };
  const client = new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure());
  const call = (method: string, req: object) => new Promise<void>((resolve, reject) => {
    (client as unknown as Record<string, (r: object, cb: (e: Error | null) => void) => void>)[method]!.call(client, req, (e) => (e ? reject(e) : resolve()));
  });
  const secrets = { userID: 'admin', userKey: key };
  const cap = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} };
  const bytes = String(sizeMiB * 1024 * 1024);
  // One warm-up of each (first-call costs: module loading, the driver's flatten scan).
  await call('CreateVolume', { name: 'bench-warm', capacity_range: { required_bytes: bytes }, volume_capabilities: [cap], parameters: { pool: 'ceph' }, secrets });
  await run('rbd', ['create', 'rbd/bare-warm', '--size', `${sizeMiB}M`]);
  const driver: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await call('CreateVolume', { name: `bench-${i}`, capacity_range: { required_bytes: bytes }, volume_capabilities: [cap], parameters: { pool: 'ceph' }, secrets });
    driver.push(performance.now() - t);
    t = performance.now();
    await run('rbd', ['create', `rbd/bare-${i}`, '--size', `${sizeMiB}M`]);
    bare.push(performance.now() - t);
  }
  for (let i = 0; i < rounds; i++) {
    await call('DeleteVolume', { volume_id: `ceph:bench-${i}`, secrets });
    await run('rbd', ['rm', '--no-progress', `rbd/bare-${i}`]);
  }
  await call('DeleteVolume', { volume_id: 'ceph:bench-warm', secrets });
  await run('rbd', ['rm', '--no-progress', 'rbd/bare-warm']);
  client.close();
  process.stdout.write(`${JSON.stringify({ rounds, sizeMiB, driver, bare, driverMedian: median(driver), bareMedian: median(bare) })}\n`);
}

async function host(rounds: number, sizeMiB: number): Promise<void> {
  const { startDriver, startLab } = await import('../lab/harness/index.js');
  const { cephKey, rbdPoolYaml, writeIn, writeSecretDir } = await import('../lab/rbd-support.js');
  const lab = await startLab({ name: 'bench-rbd', nodes: [{ name: 'bench', services: ['ceph'], memMiB: 1536 }] });
  try {
    const node = lab.node('bench');
    const key = await cephKey(node);
    await writeIn(node, '/run/lab/rbd/pools.yaml', rbdPoolYaml({ monhost: '127.0.0.1:6789' }));
    await writeSecretDir(node, '/run/lab/rbd/secrets', key);
    const d = await startDriver(node, {
      mode: 'controller', nodeId: 'bench', poolsFile: '/run/lab/rbd/pools.yaml', args: ['--secrets-dir', '/run/lab/rbd/secrets', '--log-level', 'info'], logName: 'bench-driver.log',
    });
    const self = fileURLToPath(import.meta.url);
    const r = await node.run([process.execPath, self, '--inside', d.socket, '--rounds', String(rounds), '--size-mib', String(sizeMiB)], { timeoutMs: 60 * 60_000 });
    await d.stop();
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { driverMedian: number; bareMedian: number };
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    process.stdout.write([
      `rbd CreateVolume benchmark (${rounds} rounds, ${sizeMiB} MiB, one UML lab node, interleaved)`,
      `  CreateVolume via gRPC  median ${ms(res.driverMedian)}`,
      `  bare rbd create        median ${ms(res.bareMedian)}`,
      `  ratio                  ${(res.driverMedian / res.bareMedian).toFixed(2)}`,
      '',
    ].join('\n'));
  } finally {
    await lab.close();
  }
}

const { values } = parseArgs({
  options: { inside: { type: 'string' }, rounds: { type: 'string', default: '20' }, 'size-mib': { type: 'string', default: '64' } },
  strict: true,
});
const rounds = Number(values.rounds);
const size = Number(values['size-mib']);
if (values.inside) await inside(values.inside, rounds, size);
else await host(rounds, size);
