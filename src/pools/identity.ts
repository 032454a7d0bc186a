// A pool's identity: the fields that say where its volumes are. Changing one under existing
// volumes would make them unreachable (or point at someone else's data), so a pools update
// that changes one is refused, like a change of `type`. Adding a type: one line here.
import type { Pool, PoolType } from './schema.js';

/** Per type, the fields that locate its volumes. Array fields are compared as sets. */
export const IDENTITY_KEYS: { readonly [T in PoolType]: readonly string[] } = {
  dir: ['path'],
  lvm: ['vgname'],
  lvmthin: ['vgname', 'thinpool'],
  rbd: ['pool', 'monhost', 'dataPool', 'cluster'],
  iscsi: ['portals', 'iqnPrefix', 'backing'],
  nfs: ['server', 'export'],
  zfspool: ['pool'],
  'zfs-iscsi': ['portals', 'iqnPrefix', 'pool'],
  'iscsi-luns': ['portals', 'target'],
};

function normalized(value: unknown): string {
  if (value === undefined) return '(unset)';
  if (Array.isArray(value)) return JSON.stringify([...value].map(String).sort());
  return JSON.stringify(value);
}

/** Problems (one per field) when `next` would change `old`'s type or identity. */
export function identityChanges(old: Pool, next: Pool): string[] {
  if (old.type !== next.type) return [`pool "${old.id}" field type: cannot change from ${old.type} to ${next.type} (pool ids are immutable)`];
  const problems: string[] = [];
  for (const key of IDENTITY_KEYS[old.type]) {
    const was = (old as Record<string, unknown>)[key];
    const now = (next as Record<string, unknown>)[key];
    if (normalized(was) !== normalized(now)) {
      problems.push(`pool "${old.id}" field ${key}: cannot change from ${normalized(was)} to ${normalized(now)} `
        + `(it locates the pool's existing volumes; define a new pool with another id instead)`);
    }
  }
  return problems;
}

/** The pool's identity keys and their values, for display (`pools status`). */
export function identityKeys(pool: Pool): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of IDENTITY_KEYS[pool.type]) {
    const value = (pool as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  return out;
}
