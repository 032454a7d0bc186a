// The agent service of a node plugin: runs Backend calls for this node's node-local pools on
// behalf of the controller (DESIGN §3), over mutual TLS. Only a client certificate signed by
// the agent CA and naming the controller is served.
import * as grpc from '@grpc/grpc-js';
import { isLocal } from '../backends/index.js';
import { StorageError } from '../backends/errors.js';
import type { Backend } from '../backends/types.js';
import { toStatus } from '../rpc/status.js';
import { VERSION } from '../rpc/version.js';
import { logger } from '../observe/log.js';
import type { PoolRegistry } from '../pools/registry.js';
import type { LocalBackends } from './agents.js';
import { AGENT_ARITY, AGENT_METHODS, CONTROLLER_TLS_NAME, ERROR_KIND_KEY, loadAgentService, type AgentMethod } from './proto.js';
import { certificateNames, serverCredentials, type TlsFiles } from './tls.js';

export interface AgentServiceOptions {
  nodeId: string;
  registry: PoolRegistry;
  backends: LocalBackends;
  /** Names a client certificate must carry (CN or DNS SAN); default poolcsi-controller. */
  clientNames?: string[];
}

interface CallRequest { pool: string; method: string; args_json: string; secrets: Record<string, string> }

/** Runs one call: the pool must be node-local and exist on this node, the method one the controller may call. */
export async function runAgentCall(o: AgentServiceOptions, req: CallRequest): Promise<string> {
  const entry = o.registry.get(req.pool);
  if (!entry) throw new StorageError('not-found', `pool "${req.pool}" is not defined on node ${o.nodeId}`);
  const pool = entry.pool;
  if (!isLocal(pool)) throw new StorageError('invalid', `pool "${pool.id}" is not node-local; the controller serves it itself`);
  if (pool.nodes && !pool.nodes.includes(o.nodeId)) throw new StorageError('not-found', `pool "${pool.id}" does not exist on node ${o.nodeId}`);
  if (!(AGENT_METHODS as readonly string[]).includes(req.method)) throw new StorageError('invalid', `"${req.method}" is not an agent method`);
  let args: unknown;
  try {
    args = JSON.parse(req.args_json || '[]');
  } catch {
    throw new StorageError('invalid', 'args_json is not JSON');
  }
  const arity = AGENT_ARITY[req.method as AgentMethod];
  if (!Array.isArray(args) || args.length > arity) throw new StorageError('invalid', `args_json must be a JSON array of at most ${arity} values`);
  // JSON has no undefined: an absent optional argument (unpublish's node) arrives as null.
  const positional = Array.from({ length: arity }, (_, i) => args[i] ?? undefined);
  const backend = o.backends.get(pool);
  const call = Object.keys(req.secrets ?? {}).length ? { secrets: req.secrets } : {};
  const fn = backend[req.method as AgentMethod] as (...a: unknown[]) => Promise<unknown>;
  const result = await fn.call(backend as Backend, ...positional, call);
  return JSON.stringify(result ?? null);
}

function peerAllowed(call: grpc.ServerUnaryCall<unknown, unknown>, allowed: string[]): string | undefined {
  const names = certificateNames(call.getAuthContext()?.sslPeerCertificate as Parameters<typeof certificateNames>[0]);
  if (names.some((n) => allowed.includes(n))) return undefined;
  return `client certificate names ${names.length ? names.join(', ') : 'nothing'}; the agent serves only ${allowed.join(', ')}`;
}

function fail(e: unknown): grpc.ServiceError {
  const { code, message } = toStatus(e);
  const metadata = new grpc.Metadata();
  if (e instanceof StorageError) metadata.set(ERROR_KIND_KEY, e.kind);
  return Object.assign(new Error(message), { code, details: message, metadata }) as grpc.ServiceError;
}

export function agentImplementation(o: AgentServiceOptions): grpc.UntypedServiceImplementation {
  const allowed = o.clientNames?.length ? o.clientNames : [CONTROLLER_TLS_NAME];
  return {
    Call(call: grpc.ServerUnaryCall<CallRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const denied = peerAllowed(call, allowed);
      if (denied) {
        logger().warn({ peer: call.getPeer(), reason: denied }, 'agent call refused');
        callback({ code: grpc.status.PERMISSION_DENIED, details: denied, message: denied } as grpc.ServiceError, null);
        return;
      }
      const started = performance.now();
      const log = logger().child({ agentCall: `${call.request.pool}.${call.request.method}` });
      runAgentCall(o, call.request).then(
        (result_json) => {
          log.info({ ms: Math.round(performance.now() - started) }, 'agent call done');
          callback(null, { result_json });
        },
        (e: unknown) => {
          log.warn({ ms: Math.round(performance.now() - started), error: (e as Error).message }, 'agent call failed');
          callback(fail(e), null);
        },
      );
    },
    Ping(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const denied = peerAllowed(call, allowed);
      if (denied) {
        callback({ code: grpc.status.PERMISSION_DENIED, details: denied, message: denied } as grpc.ServiceError, null);
        return;
      }
      callback(null, { node: o.nodeId, version: VERSION });
    },
  };
}

/** Starts the agent service on HOST:PORT with mutual TLS. */
export async function startAgentServer(listen: string, tls: TlsFiles, o: AgentServiceOptions): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(loadAgentService().service, agentImplementation(o));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, serverCredentials(tls), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port };
}
