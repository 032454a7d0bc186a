// Shared test helpers: an in-process poolcsi with dir pools in a temp dir, and a CSI client.
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { serve, type Mode } from '../../src/cli/serve.js';
import { loadCsi } from '../../src/csi/proto.js';
import { waitFor } from '../../src/exec/wait.js';

export type Call = (method: string, req: object) => Promise<any>;

export interface Harness {
  dir: string;
  socket: string;
  metricsAddress?: string;
  identity: Call;
  controller: Call;
  node: Call;
  stop(): Promise<void>;
}

/** Unary calls on a client; each with a deadline of `deadlineMs` when given. */
export function caller(client: grpc.Client, deadlineMs?: number): Call {
  return (method, req) => new Promise((resolve, reject) => {
    const done = (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res));
    const fn = (client as unknown as Record<string, Function>)[method]!;
    if (deadlineMs === undefined) fn.call(client, req, done);
    else fn.call(client, req, { deadline: Date.now() + deadlineMs }, done);
  });
}

export async function startPoolcsi(opts: { pools?: (dir: string) => string; mode?: Mode; extra?: Record<string, unknown> } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-unit-'));
  await mkdir(join(dir, 'pool'));
  const pools = opts.pools?.(dir) ?? `pools:\n  - id: local\n    type: dir\n    path: ${join(dir, 'pool')}\n`;
  await writeFile(join(dir, 'pools.yaml'), pools);
  const socket = join(dir, 'csi.sock');
  const running = await serve({
    mode: opts.mode ?? 'all', endpoint: `unix://${socket}`, nodeId: 'node-a', poolsFile: join(dir, 'pools.yaml'), stateDir: join(dir, 'state'), logLevel: 'silent',
    ...(opts.extra ?? {}),
  });
  const csi = loadCsi();
  const creds = grpc.credentials.createInsecure();
  const clients = [csi.Identity, csi.Controller, csi.Node].map((C) => new C(`unix://${socket}`, creds));
  await waitFor(() => new Promise<boolean>((res) => clients[0]!.waitForReady(Date.now() + 2000, (e) => res(!e))), { timeoutMs: 5000, what: 'client ready' });
  return {
    dir, socket, ...(running.metricsAddress ? { metricsAddress: running.metricsAddress } : {}),
    identity: caller(clients[0]!), controller: caller(clients[1]!), node: caller(clients[2]!),
    async stop() { for (const c of clients) c.close(); await running.stop(); },
  };
}

export const MOUNT_CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: '', mount_flags: [] } };
export const BLOCK_CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} };

/** Asserts that `p` fails with gRPC `code`, and returns the message. */
export async function rejectsWith(p: Promise<unknown>, code: grpc.status): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    if (err.code !== code) throw new Error(`expected ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    return err.details;
  }
  throw new Error(`expected ${grpc.status[code]}, but the call succeeded`);
}
