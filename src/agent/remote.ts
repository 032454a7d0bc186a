// The controller's side of the agent protocol: an Agent whose backends are proxies that send
// each Backend call to the node's agent service over mutual TLS.
import * as grpc from '@grpc/grpc-js';
import { nodeContextOf, traitsOf } from '../backends/index.js';
import { StorageError, type StorageErrorKind } from '../backends/errors.js';
import type {
  Backend, CallOptions, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../backends/types.js';
import type { Pool } from '../pools/schema.js';
import type { Agent, BackendOptions } from './agents.js';
import { AGENT_TLS_NAME, ERROR_KIND_KEY, loadAgentService, type AgentMethod } from './proto.js';
import { clientCredentials, type TlsFiles } from './tls.js';

const KINDS = new Set<StorageErrorKind>(['invalid', 'not-found', 'exists', 'out-of-range', 'exhausted', 'precondition', 'busy', 'unavailable', 'denied', 'unsupported', 'internal']);

/** Deadlines: data-moving calls (a thick clone copies the volume) may take long. */
const LONG_MS = 6 * 3600_000;
const SHORT_MS = 120_000;
const LONG_METHODS = new Set<AgentMethod>(['createVolume', 'deleteVolume', 'expandVolume', 'createSnapshot', 'deleteSnapshot']);
/**
 * How long a call waits for a connection to the agent. A node cut off the network answers
 * nothing, and gRPC's own connect timeout (20 s) outlasts a CO's deadline (the provisioner's
 * default is 10 s): the call would end DEADLINE_EXCEEDED at the CO with nothing said.
 */
export const CONNECT_MS = 6_000;
const KEEPALIVE_MS = 5_000;

type Client = grpc.Client & {
  Call(req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { result_json: string }) => void): void;
  Ping(req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { node: string; version: string }) => void): void;
};

/** A failed agent call as the StorageError the backend raised on the node (or 'unavailable'). */
export function remoteError(node: string, e: grpc.ServiceError): StorageError {
  const kind = e.metadata?.get(ERROR_KIND_KEY)?.[0];
  if (typeof kind === 'string' && KINDS.has(kind as StorageErrorKind)) return new StorageError(kind as StorageErrorKind, e.details || e.message);
  if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.UNAUTHENTICATED) {
    return new StorageError('unavailable', `agent on node ${node} refused the controller: ${e.details || e.message}`);
  }
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new StorageError('unavailable', `agent on node ${node} is unreachable: ${e.details || e.message}`);
  }
  return new StorageError('internal', `agent on node ${node}: ${e.details || e.message}`);
}

export class RemoteAgent implements Agent {
  private readonly client: Client;

  constructor(readonly node: string, readonly address: string, tls: TlsFiles, serverName = AGENT_TLS_NAME) {
    const Ctor = loadAgentService();
    // The agent certificate names the service, not each node's address.
    this.client = new Ctor(address, clientCredentials(tls), {
      'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName,
      // While calls are in flight, a ping every 5 s that must be answered within 5 s: a node
      // cut off the network fails its calls UNAVAILABLE within 10 s instead of holding them to
      // their deadline (hours for a copy) on a connection that looks open.
      'grpc.keepalive_time_ms': KEEPALIVE_MS, 'grpc.keepalive_timeout_ms': KEEPALIVE_MS,
    }) as unknown as Client;
  }

  backend(pool: Pool, opts: BackendOptions = {}): Backend { return new RemoteBackend(this, pool, opts.retired ?? false); }

  /** `retired`: the pool's definition, sent when the controller serves it as retired. */
  /**
   * Resolves once the channel is connected, or when it failed outright (a refused connection:
   * the call then fails at once with gRPC's own UNAVAILABLE); UNAVAILABLE when it is still
   * connecting after `timeoutMs` (packets going nowhere).
   */
  async connected(timeoutMs = CONNECT_MS): Promise<void> {
    const channel = this.client.getChannel();
    const deadline = Date.now() + timeoutMs;
    let state = channel.getConnectivityState(true);
    while (state !== grpc.connectivityState.READY) {
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) return;
      const changed = await new Promise<boolean>((resolve) => channel.watchConnectivityState(state, deadline, (e) => resolve(!e)));
      if (!changed) throw new StorageError('unavailable', `agent on node ${this.node} is unreachable: no connection to ${this.address} within ${timeoutMs / 1000} s`);
      state = channel.getConnectivityState(true);
    }
  }

  async call(pool: string, method: AgentMethod, args: unknown[], opts: CallOptions = {}, retired?: Pool): Promise<unknown> {
    await this.connected();
    const deadline = new Date(Date.now() + (LONG_METHODS.has(method) ? LONG_MS : SHORT_MS));
    return new Promise((resolve, reject) => {
      const req = { pool, method, args_json: JSON.stringify(args), secrets: opts.secrets ?? {}, retired_pool_json: retired ? JSON.stringify(retired) : '' };
      this.client.Call(req, new grpc.Metadata(), { deadline }, (e, r) => {
        if (e) { reject(remoteError(this.node, e)); return; }
        try {
          resolve(JSON.parse(r?.result_json ?? 'null'));
        } catch {
          reject(new StorageError('internal', `agent on node ${this.node} answered with invalid JSON`));
        }
      });
    });
  }

  ping(timeoutMs = 10_000): Promise<{ node: string; version: string }> {
    return new Promise((resolve, reject) => {
      this.client.Ping({}, { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => (e ? reject(remoteError(this.node, e)) : resolve(r!)));
    });
  }

  close(): void { this.client.close(); }
}

/** A pool's Backend on a remote node. Node-side methods are not offered over the agent protocol. */
export class RemoteBackend implements Backend {
  readonly traits: TypeTraits;

  constructor(private readonly agent: RemoteAgent, readonly pool: Pool, private readonly retired = false) {
    this.traits = traitsOf(pool.type);
  }

  private call<T>(method: AgentMethod, args: unknown[], opts?: CallOptions): Promise<T> {
    return this.agent.call(this.pool.id, method, args, opts, this.retired ? this.pool : undefined) as Promise<T>;
  }

  createVolume(spec: CreateSpec, c?: CallOptions) { return this.call<VolumeRecord>('createVolume', [spec], c); }
  deleteVolume(name: string, c?: CallOptions) { return this.call<void>('deleteVolume', [name], c); }
  getVolume(name: string, c?: CallOptions) { return this.call<VolumeRecord | null>('getVolume', [name], c).then((v) => v ?? undefined); }
  listVolumes(c?: CallOptions) { return this.call<VolumeRecord[]>('listVolumes', [], c); }
  expandVolume(name: string, size: number, limit: number, c?: CallOptions) { return this.call<VolumeRecord>('expandVolume', [name, size, limit], c); }
  createSnapshot(volume: string, name: string, requestName: string, c?: CallOptions) {
    return this.call<SnapshotRecord>('createSnapshot', [volume, name, requestName], c);
  }
  deleteSnapshot(volume: string, name: string, c?: CallOptions) { return this.call<void>('deleteSnapshot', [volume, name], c); }
  getSnapshot(volume: string, name: string, c?: CallOptions) {
    return this.call<SnapshotRecord | null>('getSnapshot', [volume, name], c).then((s) => s ?? undefined);
  }
  listSnapshots(c?: CallOptions) { return this.call<SnapshotRecord[]>('listSnapshots', [], c); }
  capacity(c?: CallOptions) { return this.call<Capacity>('capacity', [], c); }
  publish(name: string, node: string, opts: PublishOptions, c?: CallOptions) { return this.call<Record<string, string>>('publish', [name, node, opts], c); }
  unpublish(name: string, node?: string, c?: CallOptions) { return this.call<void>('unpublish', [name, node ?? null], c); }

  /** Decided by the pool definition and the record (name, location): no round trip to the agent. */
  nodeContext(rec: VolumeRecord): NodeContext { return nodeContextOf(this.pool, rec); }
}
