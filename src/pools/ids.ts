// Volume and snapshot ids: one strict grammar, checked before anything else.
//   volume_id   = <poolId>:<name>
//   snapshot_id = <poolId>:<volumeName>@<snapName>
// Names are derived from the CO's request names (pvc-<uuid>, snapshot-<uuid>): used as they are
// when they fit the grammar, otherwise shortened with a hash so the id stays ≤ 128 bytes.
import { createHash } from 'node:crypto';
import { POOL_ID } from './schema.js';

export const MAX_ID_BYTES = 128;
/** Longest volume and snapshot name, chosen so that any snapshot id fits in 128 bytes. */
export const MAX_VOLUME_NAME = 48;
export const MAX_SNAPSHOT_NAME = 46;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

export interface VolumeRef { pool: string; name: string }
export interface SnapshotRef { pool: string; volume: string; name: string }

export class IdError extends Error {
  constructor(message: string) { super(message); this.name = 'IdError'; }
}

function checkName(kind: string, name: string, max: number): void {
  if (!NAME.test(name) || name.includes('..')) {
    throw new IdError(`${kind} name "${name}" is malformed: use letters, digits and "_.+-", starting with a letter or digit, without ".."`);
  }
  if (name.length > max) throw new IdError(`${kind} name "${name}" is longer than ${max} characters`);
}

/** Whether `name` is a valid volume name (what a volume id carries after the pool). */
export const isVolumeName = (name: string): boolean => NAME.test(name) && !name.includes('..') && name.length <= MAX_VOLUME_NAME;
/** Whether `name` is a valid snapshot name (what a snapshot id carries after the "@"). */
export const isSnapshotName = (name: string): boolean => NAME.test(name) && !name.includes('..') && name.length <= MAX_SNAPSHOT_NAME;

function checkIdLength(id: string): void {
  if (Buffer.byteLength(id) > MAX_ID_BYTES) throw new IdError(`id is longer than ${MAX_ID_BYTES} bytes`);
}

export function parseVolumeId(id: string): VolumeRef {
  checkIdLength(id);
  const colon = id.indexOf(':');
  if (colon < 0) throw new IdError(`volume id "${id}" is malformed: expected <pool>:<name>`);
  const pool = id.slice(0, colon);
  const name = id.slice(colon + 1);
  if (!POOL_ID.test(pool)) throw new IdError(`volume id "${id}" is malformed: "${pool}" is not a pool id`);
  checkName('volume', name, MAX_VOLUME_NAME);
  return { pool, name };
}

export function parseSnapshotId(id: string): SnapshotRef {
  checkIdLength(id);
  const at = id.lastIndexOf('@');
  if (at < 0) throw new IdError(`snapshot id "${id}" is malformed: expected <pool>:<volume>@<snapshot>`);
  const vol = parseVolumeId(id.slice(0, at));
  const name = id.slice(at + 1);
  checkName('snapshot', name, MAX_SNAPSHOT_NAME);
  return { pool: vol.pool, volume: vol.name, name };
}

export const volumeId = (r: VolumeRef): string => `${r.pool}:${r.name}`;
export const snapshotId = (r: SnapshotRef): string => `${r.pool}:${r.volume}@${r.name}`;

/**
 * The backend name for a CO request name. Names that are unsafe on any backend (a "/", "..",
 * control characters, or nothing usable) are refused; names that are merely long or use other
 * characters get a readable prefix plus a hash of the whole request name, so the mapping is
 * deterministic (a retry finds the same object) and collision-free in practice.
 */
export function deriveName(requestName: string, max: number): string {
  if (requestName.length === 0) throw new IdError('name is empty');
  if (requestName.includes('/') || requestName.includes('..') || /[\0-\x1f\x7f]/.test(requestName)) {
    throw new IdError(`name "${requestName.replace(/[\0-\x1f\x7f]/g, '?')}" contains "/", ".." or control characters`);
  }
  if (NAME.test(requestName) && requestName.length <= max) return requestName;
  const hash = createHash('sha256').update(requestName).digest('hex').slice(0, 16);
  const prefix = requestName.replace(/[^A-Za-z0-9_.+-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/\.\.+/g, '.')
    .slice(0, max - hash.length - 1);
  return prefix ? `${prefix}-${hash}` : `v${hash}`;
}
