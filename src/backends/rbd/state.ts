// What poolcsi records on an RBD image (image metadata, `rbd image-meta`):
//   poolcsi.io/volume          JSON VolumeState, written once the volume is complete
//   poolcsi.io/flatten         "pending" while a background flatten is owed (survives restarts)
//   poolcsi.io/snapshot.<snap> the CO's request name of a snapshot, when its name was shortened
// A clone starts with its parent's metadata (librbd copies it); the create removes what it got.
// Snapshots poolcsi makes for its own use (clone sources) start with "_", which volume and
// snapshot names never do (pools/ids.ts), so they never show up as CSI snapshots.
import type { VolumeMode } from '../../pools/schema.js';
import type { PvcRef, VolumeRecord, VolumeSource } from '../types.js';
import type { ImageInfo, SnapEntry } from './report.js';

export const STATE_KEY = 'poolcsi.io/volume';
export const FLATTEN_KEY = 'poolcsi.io/flatten';
export const SNAP_REQUEST_PREFIX = 'poolcsi.io/snapshot.';
export const INTERNAL_SNAP_PREFIX = '_poolcsi-';

export interface VolumeState {
  v: 1;
  /** The image it belongs to. librbd copies a parent's metadata to a clone (CloneRequest), so
   * a clone cut short before its own state is written carries its parent's: with the name,
   * that one is not taken for the clone's. States written before it was recorded have none. */
  name?: string;
  request: string;
  mode: VolumeMode;
  params: Record<string, string>;
  source?: VolumeSource;
  pvc?: PvcRef;
  cluster?: string;
  created: string;
  complete: boolean;
  /** Set when the volume was deleted while CSI snapshots of it remain (a tombstone). */
  deleted?: string;
  published?: Record<string, { readonly: boolean }>;
}

export function cloneSnapName(child: string): string { return `${INTERNAL_SNAP_PREFIX}clone-${child}`; }
export const isInternalSnap = (name: string): boolean => name.startsWith('_');

/** CSI-visible snapshots: user namespace, not poolcsi's own. */
export function userSnaps(snaps: SnapEntry[]): SnapEntry[] {
  return snaps.filter((s) => s.namespace === 'user' && !isInternalSnap(s.name));
}

/** The state of image `name`; undefined when there is none, or only one copied from a parent. */
export function readState(meta: Record<string, string> | undefined, name: string): VolumeState | undefined {
  const raw = meta?.[STATE_KEY];
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as VolumeState;
    if (!s || typeof s !== 'object' || s.v !== 1 || typeof s.request !== 'string') return undefined;
    return s.name === undefined || s.name === name ? s : undefined;
  } catch {
    return undefined;
  }
}

export function encodeState(s: VolumeState): string { return JSON.stringify(s); }

export function toRecord(name: string, info: ImageInfo, s: VolumeState): VolumeRecord {
  return {
    name,
    requestName: s.request,
    sizeBytes: info.size,
    mode: s.mode,
    params: { ...s.params },
    complete: s.complete && !s.deleted,
    createdAt: s.created,
    ...(s.source ? { source: s.source } : {}),
    ...(s.pvc ? { pvc: s.pvc } : {}),
    ...(s.published ? { published: s.published } : {}),
  };
}

/** The request name of a snapshot: recorded when the name was shortened, the name otherwise. */
export function snapRequest(meta: Record<string, string> | undefined, snap: string): string {
  return meta?.[`${SNAP_REQUEST_PREFIX}${snap}`] ?? snap;
}
