// The gRPC server. It binds a unix socket the CO's Go clients (kubelet, sidecars,
// csi-sanity) dial directly; see test/unit/authority.test.ts for the :authority they send.
import { rm, mkdir, chmod } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthorityFixingStream } from './authority.js';
import type { Endpoint } from './endpoint.js';

export interface ServiceBinding { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation }

export interface Running { server: grpc.Server; listener?: NetServer }

export async function startServer(endpoint: Endpoint, services: ServiceBinding[]): Promise<Running> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  for (const s of services) server.addService(s.definition, s.impl);
  if (endpoint.kind === 'tcp') {
    await new Promise<number>((resolve, reject) => {
      server.bindAsync(endpoint.grpc, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    return { server };
  }
  await mkdir(dirname(endpoint.path), { recursive: true });
  // A socket left by a previous run (crash, restart) would make listen fail.
  await rm(endpoint.path, { force: true });
  // We own the unix socket so that each connection passes the :authority fix (csi/authority.ts).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createServer((socket) => injector.injectConnection(new AuthorityFixingStream(socket)));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(endpoint.path, () => resolve());
  });
  // Only root (kubelet, sidecars in the pod) may talk to the driver.
  await chmod(endpoint.path, 0o600);
  return { server, listener };
}

export function stopServer(r: Running, graceMs = 5000): Promise<void> {
  r.listener?.close();
  return new Promise((resolve) => {
    const t = setTimeout(() => { r.server.forceShutdown(); resolve(); }, graceMs);
    r.server.tryShutdown(() => { clearTimeout(t); resolve(); });
  });
}
