// The gRPC server. It binds a unix socket the CO's Go clients (kubelet, sidecars,
// csi-sanity) dial directly; see test/unit/authority.test.ts for the :authority they send.
import { lstat, unlink, mkdir, chmod } from 'node:fs/promises';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthorityFixingStream } from './authority.js';
import type { Endpoint } from './endpoint.js';
import { MAX_REQUEST_BYTES } from './limits.js';

export interface ServiceBinding { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation }

export interface Running {
  server: grpc.Server;
  listener?: NetServer;
  /** Unix socket only: resolves true once no client is connected, false after `timeoutMs`. */
  whenIdle?: (timeoutMs: number) => Promise<boolean>;
}

export async function startServer(endpoint: Endpoint, services: ServiceBinding[]): Promise<Running> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  });
  for (const s of services) server.addService(s.definition, s.impl);
  if (endpoint.kind === 'tcp') {
    await new Promise<number>((resolve, reject) => {
      server.bindAsync(endpoint.grpc, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    return { server };
  }
  await mkdir(dirname(endpoint.path), { recursive: true });
  await claimSocketPath(endpoint.path);
  // We own the unix socket so that each connection passes the :authority fix (csi/authority.ts).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const open = new Set<Socket>();
  let idle: Array<() => void> = [];
  const listener = createServer((socket) => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0) for (const wake of idle.splice(0)) wake();
    });
    injector.injectConnection(new AuthorityFixingStream(socket));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(endpoint.path, () => resolve());
  });
  // Only root (kubelet, sidecars in the pod) may talk to the driver.
  await chmod(endpoint.path, 0o600);
  const whenIdle = (timeoutMs: number) => new Promise<boolean>((resolve) => {
    if (open.size === 0) return resolve(true);
    const wake = () => { clearTimeout(t); resolve(true); };
    const t = setTimeout(() => { idle = idle.filter((w) => w !== wake); resolve(false); }, timeoutMs);
    idle.push(wake);
  });
  return { server, listener, whenIdle };
}

/** Whether something accepts connections on the unix socket `path` (within `timeoutMs`). */
function answers(path: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const done = (live: boolean) => { clearTimeout(t); s.destroy(); resolve(live); };
    // A listener that accepts but is too slow to answer is still alive.
    const t = setTimeout(() => done(true), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') done(false);
      else { clearTimeout(t); s.destroy(); reject(new Error(`--endpoint ${path}: cannot tell whether the socket is in use (${e.code ?? e.message})`)); }
    });
  });
}

/** Makes `path` free for listen: removes only a stale socket (one nobody listens on, left by a
 * crash). A live socket means another instance serves there; anything else is not ours to delete. */
export async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new Error(`--endpoint ${path}: the path exists and is not a socket (${st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : st.isFile() ? 'a regular file' : 'a special file'}); refusing to replace it`);
  }
  if (await answers(path)) throw new Error(`--endpoint ${path}: another process is serving on this socket; refusing to take it over`);
  await unlink(path).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
}

export function stopServer(r: Running, graceMs = 5000): Promise<void> {
  r.listener?.close();
  return new Promise((resolve) => {
    const t = setTimeout(() => { r.server.forceShutdown(); resolve(); }, graceMs);
    r.server.tryShutdown(() => { clearTimeout(t); resolve(); });
  });
}
