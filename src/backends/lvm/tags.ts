// State of a volume or snapshot, kept as tags on its LV (docs/design.md §2), so that the VG itself is
// the database: a crash never leaves state anywhere else, and `lvs` reads it all in one call.
//
// LVM accepts tag characters [A-Za-z0-9_+.-] and "/=!:&#". Every tag is
// "poolcsi.io/<key>=<value>" (or "poolcsi.io/<key>" for flags); values that may hold other
// characters (request names, PVC names, mkfs options) are escaped: bytes outside
// [A-Za-z0-9_.-] become "+XX" (hex of the UTF-8 byte), so any string round-trips.
import type { PvcRef, VolumeSource } from '../types.js';

export const TAG_PREFIX = 'poolcsi.io/';

/** Keys of the tags poolcsi writes. */
export const K = {
  pool: 'pool',
  /** For a volume LV: its volume name; for a snapshot LV: the source volume's name. */
  vol: 'vol',
  /** Only on snapshot LVs: the snapshot name. */
  snap: 'snap',
  req: 'req',
  mode: 'mode',
  srcVol: 'srcvol',
  srcSnap: 'srcsnap',
  pvcNamespace: 'pvcns',
  pvcName: 'pvc',
  pvName: 'pv',
  /** Published to a node: "<node>:ro" or "<node>:rw". */
  pub: 'pub',
  /** Set while a multi-step create (restore to a bigger size, a copy) is not finished. */
  incomplete: 'incomplete',
  /** A temporary LV of the driver (the copy-on-write source of a thick clone). */
  temp: 'temp',
  /** On a volume LV: a random id of this incarnation (a volume re-created under its name gets another). */
  uid: 'uid',
  /** On a snapshot LV: the uid of the volume it was taken of. */
  srcUid: 'srcuid',
} as const;

/** Per-volume parameters are kept as "p.<name>". */
export const PARAM_PREFIX = 'p.';

const SAFE = /[A-Za-z0-9_.-]/;

export function encodeValue(value: string): string {
  let out = '';
  for (const ch of value) {
    if (SAFE.test(ch)) { out += ch; continue; }
    for (const b of Buffer.from(ch, 'utf8')) out += `+${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeValue(encoded: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded[i]!;
    if (c === '+' && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function tag(key: string, value?: string): string {
  return value === undefined ? `${TAG_PREFIX}${key}` : `${TAG_PREFIX}${key}=${encodeValue(value)}`;
}

/** Our tags of an LV as a map key → values (a key may repeat, e.g. pub); foreign tags are ignored. */
export type TagMap = Map<string, string[]>;

export function parseTags(lvTags: string): TagMap {
  const map: TagMap = new Map();
  for (const t of lvTags.split(',')) {
    if (!t.startsWith(TAG_PREFIX)) continue;
    const body = t.slice(TAG_PREFIX.length);
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? '' : decodeValue(body.slice(eq + 1));
    map.set(key, [...(map.get(key) ?? []), value]);
  }
  return map;
}

export const first = (m: TagMap, key: string): string | undefined => m.get(key)?.[0];

export interface VolumeTags {
  pool: string;
  name: string;
  requestName: string;
  mode: 'filesystem' | 'block';
  source?: VolumeSource;
  pvc?: PvcRef;
  params: Record<string, string>;
}

export function volumeTags(v: VolumeTags, uid?: string): string[] {
  const tags = [tag(K.pool, v.pool), tag(K.vol, v.name), tag(K.req, v.requestName), tag(K.mode, v.mode)];
  if (uid) tags.push(tag(K.uid, uid));
  if (v.source) {
    tags.push(tag(K.srcVol, v.source.volume));
    if (v.source.kind === 'snapshot') tags.push(tag(K.srcSnap, v.source.snapshot));
  }
  if (v.pvc) {
    tags.push(tag(K.pvcNamespace, v.pvc.namespace), tag(K.pvcName, v.pvc.name));
    if (v.pvc.pvName) tags.push(tag(K.pvName, v.pvc.pvName));
  }
  for (const [k, val] of Object.entries(v.params).sort()) {
    if (/^[A-Za-z0-9]+$/.test(k)) tags.push(tag(`${PARAM_PREFIX}${k}`, val));
  }
  return tags;
}

export function snapshotTags(pool: string, volume: string, name: string, requestName: string, volumeUid?: string): string[] {
  return [tag(K.pool, pool), tag(K.vol, volume), tag(K.snap, name), tag(K.req, requestName), ...(volumeUid ? [tag(K.srcUid, volumeUid)] : [])];
}

export function volumeFromTags(m: TagMap): VolumeTags | undefined {
  const pool = first(m, K.pool);
  const name = first(m, K.vol);
  const requestName = first(m, K.req);
  const mode = first(m, K.mode);
  if (!pool || !name || requestName === undefined || (mode !== 'filesystem' && mode !== 'block') || m.has(K.snap)) return undefined;
  const srcVol = first(m, K.srcVol);
  const srcSnap = first(m, K.srcSnap);
  const source: VolumeSource | undefined = srcVol === undefined ? undefined
    : srcSnap === undefined ? { kind: 'volume', volume: srcVol } : { kind: 'snapshot', volume: srcVol, snapshot: srcSnap };
  const ns = first(m, K.pvcNamespace);
  const pvcName = first(m, K.pvcName);
  const pvName = first(m, K.pvName);
  const params: Record<string, string> = {};
  for (const [k, vals] of m) if (k.startsWith(PARAM_PREFIX)) params[k.slice(PARAM_PREFIX.length)] = vals[0]!;
  return {
    pool, name, requestName, mode, params,
    ...(source ? { source } : {}),
    ...(ns !== undefined && pvcName !== undefined ? { pvc: { namespace: ns, name: pvcName, ...(pvName ? { pvName } : {}) } } : {}),
  };
}

/** Publications recorded on the LV: node → read-only flag. */
export function publishedFromTags(m: TagMap): Record<string, { readonly: boolean }> | undefined {
  const pubs = m.get(K.pub);
  if (!pubs?.length) return undefined;
  const out: Record<string, { readonly: boolean }> = {};
  for (const p of pubs) {
    const i = p.lastIndexOf(':');
    if (i > 0) out[p.slice(0, i)] = { readonly: p.slice(i + 1) === 'ro' };
  }
  return out;
}

export const publishTag = (node: string, readonly: boolean): string => tag(K.pub, `${node}:${readonly ? 'ro' : 'rw'}`);
