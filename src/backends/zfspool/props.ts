// The pool's state in ZFS user properties (poolcsi.io:*) on the datasets and snapshots
// themselves, so the pool is its own database and `zfs list` reads it all in one call. Every
// value is JSON (no tab or newline can reach the tab-separated `-H` output). ZFS shows an
// unset user property as "-". Snapshots inherit the user properties of their dataset, so a
// snapshot is recognised by poolcsi.io:snapshot, which only snapshots carry.
//
// And the native properties a StorageClass may set: a validated list, never passed through.
import { invalid } from '../errors.js';
import type { VolumeMode } from '../../pools/schema.js';
import type { PvcRef, VolumeSource } from '../types.js';

export const P = {
  pool: 'poolcsi.io:pool',
  volume: 'poolcsi.io:volume',
  request: 'poolcsi.io:request',
  mode: 'poolcsi.io:mode',
  params: 'poolcsi.io:params',
  source: 'poolcsi.io:source',
  pvc: 'poolcsi.io:pvc',
  /** Set when a multi-step create (a clone grown to a bigger size) is done; a single `zfs create` sets it at once. */
  complete: 'poolcsi.io:complete',
  published: 'poolcsi.io:published',
  /** On snapshots only: the CSI snapshot name. */
  snapshot: 'poolcsi.io:snapshot',
  /** On a snapshot the CSI deleted while clones still depend on it: hidden, destroyed with the last clone. */
  snapDeleted: 'poolcsi.io:snapdeleted',
  /** On the snapshot a volume-to-volume clone was made from. */
  internal: 'poolcsi.io:internal',
  /** On a deleted volume waiting for its dependents (renamed to <parent>/trash:...). */
  trash: 'poolcsi.io:trash',
} as const;

export const USER_PROPS = Object.values(P);

export const enc = (v: unknown): string => JSON.stringify(v);

/** A JSON user property value, or undefined when unset ("-") or not ours. */
export function dec<T>(v: string | undefined): T | undefined {
  if (v === undefined || v === '-' || v === '') return undefined;
  try { return JSON.parse(v) as T; } catch { return undefined; }
}

export interface VolumeState {
  pool: string;
  volume: string;
  request: string;
  mode: VolumeMode;
  params: Record<string, string>;
  source?: VolumeSource;
  pvc?: PvcRef;
}

/** `-o name=value` pairs of a new volume's state (complete only when the create is one step). */
export function volumeProps(s: VolumeState, complete: boolean): Record<string, string> {
  return {
    [P.pool]: enc(s.pool), [P.volume]: enc(s.volume), [P.request]: enc(s.request), [P.mode]: enc(s.mode),
    [P.params]: enc(s.params),
    ...(s.source ? { [P.source]: enc(s.source) } : {}),
    ...(s.pvc ? { [P.pvc]: enc(s.pvc) } : {}),
    ...(complete ? { [P.complete]: enc(true) } : {}),
  };
}

export function snapshotProps(pool: string, volume: string, snapshot: string, request: string): Record<string, string> {
  return { [P.pool]: enc(pool), [P.volume]: enc(volume), [P.snapshot]: enc(snapshot), [P.request]: enc(request) };
}

// ---- native properties from StorageClass parameters and pool defaults ------------------------

const POW2 = (min: number, max: number) => (v: string): number | undefined => {
  const m = /^([0-9]+)([kKmM]?)$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 ** 2);
  return n >= min && n <= max && (n & (n - 1)) === 0 ? n : undefined;
};
const COMPRESSION = /^(on|off|lz4|lzjb|zle|gzip|gzip-[1-9]|zstd|zstd-fast|zstd-([1-9]|1[0-9])|zstd-fast-([1-9]|[1-9][0-9]|100|500|1000))$/;

/** The StorageClass parameters a zfspool understands (besides the common ones). */
export const ZFS_PARAMS = ['sparse', 'volblocksize', 'recordsize', 'compression'] as const;

export interface NativeProps {
  /** zvol: `zfs create -s` (no reservation); dataset: no refreservation. */
  sparse: boolean;
  /** Bytes; zvols only. */
  volblocksize?: number;
  /** Bytes; datasets only. */
  recordsize?: number;
  compression?: string;
}

/** Checks the parameters' values: INVALID_ARGUMENT names the parameter and what it accepts. */
export function nativeProps(params: Readonly<Record<string, string>>): NativeProps {
  const out: NativeProps = { sparse: true };
  if (params.sparse !== undefined) {
    if (!['true', 'false'].includes(params.sparse)) throw invalid(`parameter sparse: "${params.sparse}" is not true or false`);
    out.sparse = params.sparse === 'true';
  }
  if (params.volblocksize !== undefined) {
    const n = POW2(4096, 128 * 1024)(params.volblocksize);
    if (n === undefined) throw invalid(`parameter volblocksize: "${params.volblocksize}" is not a power of 2 from 4k to 128k`);
    out.volblocksize = n;
  }
  if (params.recordsize !== undefined) {
    const n = POW2(4096, 1024 ** 2)(params.recordsize);
    if (n === undefined) throw invalid(`parameter recordsize: "${params.recordsize}" is not a power of 2 from 4k to 1M`);
    out.recordsize = n;
  }
  if (params.compression !== undefined) {
    if (!COMPRESSION.test(params.compression)) throw invalid(`parameter compression: "${params.compression}" is not one of on, off, lz4, lzjb, zle, gzip[-1..9], zstd[-1..19], zstd-fast[-N]`);
    out.compression = params.compression;
  }
  return out;
}
