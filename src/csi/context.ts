// What the CSI services share: the pools, the routing to backends, the locks.
import type { LocalBackends } from '../agent/agents.js';
import type { Router } from '../agent/router.js';
import type { Backend, CallOptions, VolumeRecord } from '../backends/types.js';
import { IdError, parseSnapshotId, parseVolumeId, type SnapshotRef, type VolumeRef } from '../pools/ids.js';
import type { PoolRegistry } from '../pools/registry.js';
import type { Pool } from '../pools/schema.js';
import { aborted, invalidArgument, notFound, quote } from './errors.js';
import type { KeyedLocks } from './locks.js';

export const TOPOLOGY_KEY = 'topology.poolcsi.io/node';

export interface DriverContext {
  nodeId: string;
  registry: PoolRegistry;
  router: Router;
  locks: KeyedLocks;
  /** This node's backends (node service). */
  local: LocalBackends;
  /** Whether `node` is a node this driver can serve. */
  knownNode(node: string): boolean;
  /** Staging and target paths must lie under one of these (empty = any absolute path). */
  pathPrefixes: string[];
}

/** Runs `fn` holding `keys`; a concurrent operation on any of them gets ABORTED. */
export async function withLocks<T>(ctx: DriverContext, keys: string[], fn: () => Promise<T>): Promise<T> {
  const release = ctx.locks.tryAcquire(keys);
  if (!release) throw aborted(`an operation on ${keys.join(' / ')} is already in progress; retry later`);
  try {
    return await fn();
  } finally {
    release();
  }
}

export function requireField(value: unknown, field: string): void {
  if (value === undefined || value === null || value === '') throw invalidArgument(`${field} is required`);
}

/** Parses a volume id from a lookup: a malformed id names no volume, so NOT_FOUND. */
export function lookupVolumeRef(id: string): VolumeRef {
  try {
    return parseVolumeId(id);
  } catch (e) {
    if (e instanceof IdError) throw notFound(`volume ${quote(id, 256)} not found: ${e.message}`);
    throw e;
  }
}

export function lookupSnapshotRef(id: string): SnapshotRef {
  try {
    return parseSnapshotId(id);
  } catch (e) {
    if (e instanceof IdError) throw notFound(`snapshot ${quote(id, 256)} not found: ${e.message}`);
    throw e;
  }
}

export function poolOf(ctx: DriverContext, poolId: string, what: string): Pool {
  const entry = ctx.registry.get(poolId);
  if (!entry) throw notFound(`${what} not found: pool "${poolId}" is not defined`);
  return entry.pool;
}

export interface FoundVolume { pool: Pool; ref: VolumeRef; backend: Backend; node?: string; record: VolumeRecord }

/** The volume behind an id, through the backend that holds it; NOT_FOUND otherwise. */
export async function findVolume(ctx: DriverContext, id: string, call?: CallOptions): Promise<FoundVolume> {
  const ref = lookupVolumeRef(id);
  const pool = poolOf(ctx, ref.pool, `volume ${id}`);
  const routed = await ctx.router.forExisting(pool, ref.name, call);
  const record = await routed?.backend.getVolume(ref.name, call);
  if (!routed || !record) throw notFound(`volume ${id} not found in pool "${pool.id}"`);
  return { pool, ref, backend: routed.backend, record, ...(routed.node ? { node: routed.node } : {}) };
}

/** The CSI secrets of a request, for the backend (never logged: see observe/log.ts). */
export function callOf(req: { secrets?: Record<string, string> }): CallOptions {
  return req.secrets && Object.keys(req.secrets).length ? { secrets: req.secrets } : {};
}

export function topologyOf(node: string | undefined): Array<{ segments: Record<string, string> }> {
  return node ? [{ segments: { [TOPOLOGY_KEY]: node } }] : [];
}

/** Pagination over a sorted list: the token is the id of the last entry returned. */
export function paginate<T>(items: T[], idOf: (t: T) => string, token: string, maxEntries: number): { page: T[]; next: string } {
  if (maxEntries < 0) throw invalidArgument('max_entries must not be negative');
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  let start = 0;
  if (token) {
    if (!/^[a-z][a-z0-9-]*:[^\0]+$/.test(token) || token.length > 128) throw aborted(`starting_token ${quote(token)} is not a token this plugin issued`);
    start = sorted.findIndex((t) => idOf(t) > token);
    if (start < 0) start = sorted.length;
  }
  const page = maxEntries > 0 ? sorted.slice(start, start + maxEntries) : sorted.slice(start);
  const more = start + page.length < sorted.length;
  return { page, next: more && page.length ? idOf(page[page.length - 1]!) : '' };
}
