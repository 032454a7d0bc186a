// What one CSI request may carry. The CO is trusted to send sane requests, but anything that can
// reach the socket can send a request; these bounds keep one request from costing megabytes of
// memory, log or error message. They are far above what kubelet and the sidecars send.
import { invalidArgument, quote } from './errors.js';
import type { Req } from './rpc.js';

/** Whole message, enforced by grpc-js itself (grpc.max_receive_message_length). */
export const MAX_REQUEST_BYTES = 1024 * 1024;

interface MapLimit { entries: number; key: number; value: number }

/** string→string maps: StorageClass parameters, contexts, secrets. */
const MAP: MapLimit = { entries: 128, key: 320, value: 16 * 1024 };
// Secrets carry keyrings and CA bundles, but a few of them.
const SECRETS: MapLimit = { entries: 32, key: 320, value: 64 * 1024 };
const MAP_FIELDS: Record<string, MapLimit> = {
  parameters: MAP, mutable_parameters: MAP, volume_context: MAP, publish_context: MAP, segments: MAP, secrets: SECRETS,
};

/** Repeated fields: volume_capabilities (7 access modes × 2 access types fit), topology lists. */
const LIST: Record<string, number> = { volume_capabilities: 16, mount_flags: 64, requisite: 64, preferred: 64 };
const DEFAULT_LIST = 64;
/** Any other string: ids, names, paths, tokens. */
const MAX_STRING = 8 * 1024;
const MAX_DEPTH = 12;

/** Throws INVALID_ARGUMENT naming the first field over its bound. */
export function checkRequestBounds(req: Req): void {
  walk(req, '', 0);
}

function walk(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw invalidArgument(`${path}: nested too deeply`);
  if (typeof value === 'string') {
    if (value.length > MAX_STRING) throw invalidArgument(`${path || 'request'}: ${value.length} characters; at most ${MAX_STRING}`);
    return;
  }
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return;
  if (Array.isArray(value)) {
    const field = path.replace(/^.*\./, '').replace(/\[\d+\]$/, '');
    const max = LIST[field] ?? DEFAULT_LIST;
    if (value.length > max) throw invalidArgument(`${path}: ${value.length} entries; at most ${max}`);
    value.forEach((v, i) => walk(v, `${path}[${i}]`, depth + 1));
    return;
  }
  const field = path.replace(/^.*\./, '');
  const map = MAP_FIELDS[field];
  const entries = Object.entries(value as Record<string, unknown>);
  if (map) {
    if (entries.length > map.entries) throw invalidArgument(`${path}: ${entries.length} entries; at most ${map.entries}`);
    for (const [k, v] of entries) {
      if (k.length > map.key) throw invalidArgument(`${path}: key ${quote(k)} is longer than ${map.key} characters`);
      if (typeof v === 'string' && v.length > map.value) throw invalidArgument(`${path}[${quote(k)}]: value is longer than ${map.value} characters`);
    }
    return;
  }
  for (const [k, v] of entries) walk(v, path ? `${path}.${k}` : k, depth + 1);
}
