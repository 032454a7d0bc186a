// StorageClass parameters: `pool` picks the pool; the rest are checked against what the
// pool's type understands. Unknown parameters are an error, never silently ignored.
import { traitsOf } from '../backends/index.js';
import type { PvcRef } from '../backends/types.js';
import type { Pool } from '../pools/schema.js';
import { firstFew, invalidArgument, quote } from './errors.js';

// Metadata the external-provisioner (--extra-create-metadata) adds. It is stored on the backend
// and printed by `volumes list`, so it must be what Kubernetes allows there: names, not text.
const PVC_NAME = 'csi.storage.k8s.io/pvc/name';
const PVC_NAMESPACE = 'csi.storage.k8s.io/pvc/namespace';
const PV_NAME = 'csi.storage.k8s.io/pv/name';

/** DNS-1123 subdomain (object names) and label (namespaces), as Kubernetes validates them. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
type NameKind = 'subdomain' | 'label';
const METADATA: Record<string, NameKind> = { [PVC_NAME]: 'subdomain', [PVC_NAMESPACE]: 'label', [PV_NAME]: 'subdomain' };

// What the external-snapshotter (--extra-create-metadata) adds to CreateSnapshot.
const SNAPSHOT_METADATA: Record<string, NameKind> = {
  'csi.storage.k8s.io/volumesnapshot/name': 'subdomain',
  'csi.storage.k8s.io/volumesnapshot/namespace': 'label',
  'csi.storage.k8s.io/volumesnapshotcontent/name': 'subdomain',
};

/** Throws INVALID_ARGUMENT unless `value` is a Kubernetes name of `kind`. */
export function checkKubeName(key: string, value: string, kind: NameKind): void {
  const max = kind === 'label' ? 63 : 253;
  const ok = value.length >= 1 && value.length <= max && (kind === 'label' ? LABEL : SUBDOMAIN).test(value);
  if (!ok) {
    throw invalidArgument(`parameter ${key}: ${quote(value)} is not a Kubernetes ${kind === 'label' ? 'namespace (DNS-1123 label' : 'name (DNS-1123 subdomain'}, at most ${max} characters)`);
  }
}

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
    if (k === 'pool') continue;
    const meta = METADATA[k];
    if (meta) { checkKubeName(k, v, meta); continue; }
    if (!known.has(k)) { unknown.push(k); continue; }
    if (v.length > VALUE_LIMIT || /[\0-\x1f\x7f]/.test(v)) throw invalidArgument(`parameter ${k}: value is too long or has control characters`);
    params[k] = v;
  }
  if (unknown.length) {
    const list = [...known].sort().join(', ') || 'none';
    throw invalidArgument(`unknown parameter(s) ${firstFew(unknown)} for pool "${pool.id}" (type ${pool.type}); it accepts: pool, ${list}`);
  }
  for (const k of Object.keys(params)) {
    if (!known.has(k)) throw invalidArgument(`pool "${pool.id}" defaults: "${k}" does not apply to type ${pool.type}`);
  }
  if (params.fsType !== undefined && !['ext4', 'xfs', 'btrfs'].includes(params.fsType)) {
    throw invalidArgument(`parameter fsType: ${quote(params.fsType)} is not supported (ext4, xfs, btrfs)`);
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

/** CreateSnapshot parameters: only the snapshotter's metadata, checked and then not needed. */
export function checkSnapshotParams(raw: Record<string, string> | undefined): void {
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    const meta = SNAPSHOT_METADATA[k];
    if (meta) checkKubeName(k, v, meta);
    else unknown.push(k);
  }
  if (unknown.length) throw invalidArgument(`unknown snapshot parameter(s) ${firstFew(unknown)}; snapshots take none (besides the ${Object.keys(SNAPSHOT_METADATA).join(', ')} metadata)`);
}
