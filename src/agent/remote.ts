// The controller's side of the agent protocol: an Agent whose backends are proxies that send
// each Backend call to the node's agent service over mutual TLS.
import * as grpc from '@grpc/grpc-js';
import { nodeContextOf, traitsOf } from '../backends/index.js';
import { StorageError, type StorageErrorKind } from '../backends/errors.js';
import type {
  Backend, CallOptions, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../backends/types.js';
import type { Pool } from '../pools/schema.js';
import type { Agent, AgentDirectory } from './agents.js';
import { AGENT_TLS_NAME, ERROR_KIND_KEY, loadAgentService, type AgentMethod } from './proto.js';
import { clientCredentials, type TlsFiles } from './tls.js';

const KINDS = new Set<StorageErrorKind>(['invalid', 'not-found', 'exists', 'out-of-range', 'exhausted', 'precondition', 'busy', 'unavailable', 'denied', 'unsupported', 'internal']);

/** Deadlines: data-moving calls (a thick clone copies the volume) may take long. */
const LONG_MS = 6 * 3600_000;
const SHORT_MS = 120_000;
const LONG_METHODS = new Set<AgentMethod>(['createVolume', 'deleteVolume', 'expandVolume', 'createSnapshot', 'deleteSnapshot']);

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
    this.client = new Ctor(address, clientCredentials(tls), { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName }) as unknown as Client;
  }

  backend(pool: Pool): Backend { return new RemoteBackend(this, pool); }

  call(pool: string, method: AgentMethod, args: unknown[], opts: CallOptions = {}): Promise<unknown> {
    const deadline = new Date(Date.now() + (LONG_METHODS.has(method) ? LONG_MS : SHORT_MS));
    return new Promise((resolve, reject) => {
      this.client.Call({ pool, method, args_json: JSON.stringify(args), secrets: opts.secrets ?? {} }, new grpc.Metadata(), { deadline }, (e, r) => {
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

  constructor(private readonly agent: RemoteAgent, readonly pool: Pool) {
    this.traits = traitsOf(pool.type);
  }

  private call<T>(method: AgentMethod, args: unknown[], opts?: CallOptions): Promise<T> {
    return this.agent.call(this.pool.id, method, args, opts) as Promise<T>;
  }

  createVolume(spec: CreateSpec, c?: CallOptions) { return this.call<VolumeRecord>('createVolume', [spec], c); }
  deleteVolume(name: string, c?: CallOptions) { return this.call<void>('deleteVolume', [name], c); }
  getVolume(name: string, c?: CallOptions) { return this.call<VolumeRecord | null>('getVolume', [name], c).then((v) => v ?? undefined); }
  listVolumes(c?: CallOptions) { return this.call<VolumeRecord[]>('listVolumes', [], c); }
  expandVolume(name: string, size: number, c?: CallOptions) { return this.call<VolumeRecord>('expandVolume', [name, size], c); }
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

/** Agents at fixed addresses (--agents node=host:port,...), plus optionally this process's own. */
export class StaticAgentDirectory implements AgentDirectory {
  private readonly remote = new Map<string, RemoteAgent>();

  constructor(addresses: Record<string, string>, tls: TlsFiles, private readonly local?: Agent) {
    for (const [node, address] of Object.entries(addresses)) {
      if (node !== local?.node) this.remote.set(node, new RemoteAgent(node, address, tls));
    }
  }

  forNode(node: string): Agent | undefined { return node === this.local?.node ? this.local : this.remote.get(node); }
  nodes(): string[] { return [...(this.local ? [this.local.node] : []), ...this.remote.keys()]; }
  close(): void { for (const a of this.remote.values()) a.close(); }
}

/** Parses --agents "node1=host:port,node2=host:port". */
export function parseAgentMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)=([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):([0-9]{1,5})$/.exec(part);
    if (!m) throw new Error(`--agents: "${part}" is not NODE=HOST:PORT`);
    if (out[m[1]!]) throw new Error(`--agents: node ${m[1]} is listed twice`);
    out[m[1]!] = `${m[3]}:${m[4]}`;
  }
  return out;
}
