// One CSI client over the driver's unix socket: every call answers an Outcome (never throws),
// with the gRPC code's name and the time it took.
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../../src/csi/proto.js';

export interface Outcome {
  ok: boolean;
  /** gRPC status name: OK, INVALID_ARGUMENT, UNAVAILABLE, ... */
  code: string;
  details: string;
  response?: any;
  ms: number;
}

export type Service = 'Identity' | 'Controller' | 'Node' | 'GroupController';

const NAMES = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])) as Record<number, string>;
export const codeName = (c: number): string => NAMES[c] ?? `CODE_${c}`;

/** Codes after which a CO sends the same request again: the outcome is not yet known. */
export const RETRYABLE = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'ABORTED', 'CANCELLED', 'UNKNOWN', 'INTERNAL']);

export class CsiClient {
  private clients = new Map<Service, grpc.Client>();
  constructor(readonly socket: string) {}

  private client(s: Service): grpc.Client {
    let c = this.clients.get(s);
    if (!c) {
      c = new (loadCsi()[s])(`unix://${this.socket}`, grpc.credentials.createInsecure(), {
        // A killed driver must not make the channel wait out a long reconnect backoff.
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 200,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      });
      this.clients.set(s, c);
    }
    return c;
  }

  call(method: string, request: unknown, timeoutMs = 30_000): Promise<Outcome> {
    const [service, rpc] = method.split('.') as [Service, string];
    const c = this.client(service) as unknown as Record<string, Function>;
    const fn = c[rpc];
    if (!fn) return Promise.resolve({ ok: false, code: 'UNIMPLEMENTED', details: `no method ${method} in this client`, ms: 0 });
    const t0 = performance.now();
    return new Promise((resolve) => {
      try {
        fn.call(c, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => {
          const ms = Math.round(performance.now() - t0);
          if (err) resolve({ ok: false, code: codeName(err.code), details: err.details ?? err.message, ms });
          else resolve({ ok: true, code: 'OK', details: '', response: res, ms });
        });
      } catch (e) {
        // Serialization refused the request on this side (a value the wire cannot carry).
        resolve({ ok: false, code: 'CLIENT_ENCODE', details: (e as Error).message, ms: 0 });
      }
    });
  }

  /** Drops the channels (after a restart, so the next call connects afresh). */
  reset(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  close(): void { this.reset(); }
}
