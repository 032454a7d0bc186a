// Loading proto/agent.proto.
import type * as grpc from '@grpc/grpc-js';
import { loadProto } from '../rpc/proto.js';

let cached: grpc.ServiceClientConstructor | undefined;

export function loadAgentService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const pkg = loadProto('agent.proto') as unknown as { poolcsi: { agent: { v1: { Agent: grpc.ServiceClientConstructor } } } };
  cached = pkg.poolcsi.agent.v1.Agent;
  return cached;
}

/**
 * The Backend methods the controller may call on an agent (node-side ones are not among
 * them), with their number of arguments before the CallOptions.
 */
export const AGENT_ARITY = {
  createVolume: 1, deleteVolume: 1, getVolume: 1, listVolumes: 0, expandVolume: 2,
  createSnapshot: 3, deleteSnapshot: 2, getSnapshot: 2, listSnapshots: 0, capacity: 0, publish: 3, unpublish: 2,
} as const;
export type AgentMethod = keyof typeof AGENT_ARITY;
export const AGENT_METHODS = Object.keys(AGENT_ARITY) as AgentMethod[];

/** Trailing metadata key carrying the StorageError kind of a failed call. */
export const ERROR_KIND_KEY = 'poolcsi-error-kind';

/** Certificate names: the agent's server certificate and the controller's client certificate. */
export const AGENT_TLS_NAME = 'poolcsi-agent';
export const CONTROLLER_TLS_NAME = 'poolcsi-controller';
