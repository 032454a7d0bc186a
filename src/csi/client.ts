// A CSI Identity client for the driver's own socket: what the registrar and the health
// endpoint ask the driver (its name, whether it is ready), each call under a deadline.
import * as grpc from '@grpc/grpc-js';
import { parseEndpoint } from './endpoint.js';
import { loadCsi } from './proto.js';

export class IdentityClient {
  private readonly client: grpc.Client;

  constructor(endpoint: string) {
    const Identity = loadCsi().Identity;
    this.client = new Identity(parseEndpoint(endpoint).grpc, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, Function>)[method]!;
      fn.call(this.client, {}, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    });
  }

  async pluginName(timeoutMs: number): Promise<string> {
    const info = await this.call<{ name: string }>('GetPluginInfo', timeoutMs);
    if (!info.name) throw new Error('the driver answered GetPluginInfo without a name');
    return info.name;
  }

  /** Probe: resolves when the driver answers ready (an unset `ready` means ready, per the spec). */
  async probe(timeoutMs: number): Promise<void> {
    const r = await this.call<{ ready?: { value: boolean } | null }>('Probe', timeoutMs);
    if (r.ready && r.ready.value === false) throw new Error('the driver is not ready');
  }

  close(): void { this.client.close(); }
}
