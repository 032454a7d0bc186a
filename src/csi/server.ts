// The gRPC server. It binds a unix socket the CO's Go clients (kubelet, sidecars,
// csi-sanity) dial directly; see test/unit/authority.test.ts for the :authority they send.
import { rm, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Endpoint } from './endpoint.js';

export interface ServiceBinding { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation }

export async function startServer(endpoint: Endpoint, services: ServiceBinding[]): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  for (const s of services) server.addService(s.definition, s.impl);
  if (endpoint.kind === 'unix') {
    await mkdir(dirname(endpoint.path), { recursive: true });
    // A socket left by a previous run (crash, restart) would make bind fail.
    await rm(endpoint.path, { force: true });
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(endpoint.grpc, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port };
}

export function stopServer(server: grpc.Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
    server.tryShutdown(() => { clearTimeout(t); resolve(); });
  });
}
