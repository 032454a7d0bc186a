// StorageClass parameters: `pool` picks the pool; the rest are checked against what the
// pool's type understands. Unknown parameters are an error, never silently ignored.
import { traitsOf } from '../backends/index.js';
import type { PvcRef } from '../backends/types.js';
import type { Pool } from '../pools/schema.js';
import { invalidArgument } from './errors.js';

const PVC_NAME = 'csi.storage.k8s.io/pvc/name';
const PVC_NAMESPACE = 'csi.storage.k8s.io/pvc/namespace';
const PV_NAME = 'csi.storage.k8s.io/pv/name';
const METADATA = new Set([PVC_NAME, PVC_NAMESPACE, PV_NAME]);

const FS_PARAMS = ['fsType', 'mkfsOptions'];
const COMMON = ['mountOptions'];

const VALUE_LIMIT = 1024;

export interface ResolvedParams {
  params: Record<string, string>;
  pvc?: PvcRef;
}

/** Parameters a pool of this type accepts (besides `pool` and the PVC metadata). */
export function knownParams(pool: Pool): string[] {
  const t = traitsOf(pool.type);
  return [...(t.makesFilesystem ? FS_PARAMS : []), ...COMMON, ...t.params];
}

/** Merges pool defaults with StorageClass parameters and validates the result. */
export function resolveParams(pool: Pool, raw: Record<string, string>): ResolvedParams {
  const known = new Set(knownParams(pool));
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(pool.defaults ?? {})) {
    if (v === undefined) continue;
    params[k] = Array.isArray(v) ? v.join(',') : String(v);
  }
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'pool' || METADATA.has(k)) continue;
    if (!known.has(k)) { unknown.push(k); continue; }
    if (v.length > VALUE_LIMIT || /[\0-\x1f]/.test(v)) throw invalidArgument(`parameter ${k}: value is too long or has control characters`);
    params[k] = v;
  }
  if (unknown.length) {
    const list = [...known].sort().join(', ') || 'none';
    throw invalidArgument(`unknown parameter(s) ${unknown.map((u) => `"${u}"`).join(', ')} for pool "${pool.id}" (type ${pool.type}); it accepts: pool, ${list}`);
  }
  for (const k of Object.keys(params)) {
    if (!known.has(k)) throw invalidArgument(`pool "${pool.id}" defaults: "${k}" does not apply to type ${pool.type}`);
  }
  if (params.fsType !== undefined && !['ext4', 'xfs', 'btrfs'].includes(params.fsType)) {
    throw invalidArgument(`parameter fsType: "${params.fsType}" is not supported (ext4, xfs, btrfs)`);
  }
  if (params.mountOptions !== undefined && !/^[A-Za-z0-9_.,=:+-]*$/.test(params.mountOptions)) {
    throw invalidArgument('parameter mountOptions: use a comma-separated list of letters, digits and _.=:+-');
  }
  const ns = raw[PVC_NAMESPACE];
  const name = raw[PVC_NAME];
  const pvName = raw[PV_NAME];
  const pvc = ns && name ? { namespace: ns, name, ...(pvName ? { pvName } : {}) } : undefined;
  return { params, ...(pvc ? { pvc } : {}) };
}

// What the external-snapshotter (--extra-create-metadata, as the chart runs it) adds to
// CreateSnapshot: names, validated as Kubernetes names; any other snapshot parameter is refused.
const SNAPSHOT_METADATA: Record<string, RegExp> = {
  'csi.storage.k8s.io/volumesnapshot/name': /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  'csi.storage.k8s.io/volumesnapshot/namespace': /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  'csi.storage.k8s.io/volumesnapshotcontent/name': /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
};

export function checkSnapshotParams(raw: Record<string, string> | undefined): void {
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    const grammar = SNAPSHOT_METADATA[k];
    if (!grammar) unknown.push(k);
    else if (!grammar.test(v)) throw invalidArgument(`parameter ${k}: "${v.slice(0, 64)}" is not a Kubernetes name`);
  }
  if (unknown.length) throw invalidArgument(`unknown snapshot parameter(s): ${unknown.slice(0, 5).join(', ')}; snapshots take none (besides the ${Object.keys(SNAPSHOT_METADATA).join(', ')} metadata)`);
}
