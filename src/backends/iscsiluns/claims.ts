// Who owns which LUN of an `iscsi-luns` pool. A foreign target cannot hold our state, so each
// claimed LUN is a Lease (coordination.k8s.io) in the driver's namespace, named after the LUN
// itself (its target and SCSI id, not its number, which an admin may remap). Creating an object
// of a name that exists fails (409) in the API server, so two controllers, or one restarted
// mid-create, can never both own a LUN: the create IS the claim. Leases because the controller
// may already create and update them (its sidecars' leader election), so claims need no wider
// RBAC than that; nothing renews them and nothing expires them.
//   name            poolcsi-lun-<sha256(target, wwid)[:24]>
//   labels          app.kubernetes.io/managed-by=poolcsi, poolcsi.io/claim=lun,
//                   poolcsi.io/pool=<pool id or its hash>, poolcsi.io/volume=<sha256(volume)[:40]>
//   holderIdentity  the volume's name
//   annotation      poolcsi.io/claim: JSON of target, wwid, lun, sizeBytes, volume, requestName,
//                   mode, params, pvc, createdAt, published (node → {readonly}), releasing
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StorageError } from '../errors.js';

export interface Claim {
  /** The Lease's name. */
  name: string;
  /** The API server's version of it, for updates that must not overwrite another's. */
  resourceVersion?: string;
  pool: string;
  target: string;
  wwid: string;
  lun: number;
  sizeBytes: number;
  volume: string;
  requestName: string;
  mode: 'filesystem' | 'block';
  params: Record<string, string>;
  pvc?: { namespace: string; name: string; pvName?: string };
  createdAt: string;
  published: Record<string, { readonly: boolean }>;
  releasing: boolean;
}

/** Where claims are kept. create answers 'taken' when the LUN's claim exists already. */
export interface ClaimStore {
  readonly description: string;
  /** Every LUN claim (of every pool: a LUN may be named by two pools by mistake). */
  list(): Promise<Claim[]>;
  create(c: Claim): Promise<Claim | 'taken'>;
  /** Replaces a claim read before; 'stale' when it changed since. */
  update(c: Claim): Promise<Claim | 'stale'>;
  /** Removes a claim; gone already is fine. */
  remove(c: Claim): Promise<void>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
export const claimName = (target: string, wwid: string) => `poolcsi-lun-${sha(`${target}\n${wwid}`).slice(0, 24)}`;
const LABEL_VALUE = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61}[A-Za-z0-9]|[A-Za-z0-9])$/;
export const poolLabel = (pool: string) => (LABEL_VALUE.test(pool) ? pool : `h.${sha(pool).slice(0, 40)}`);
export const volumeLabel = (volume: string) => sha(volume).slice(0, 40);

export const LABELS = { managed: 'app.kubernetes.io/managed-by', claim: 'poolcsi.io/claim', pool: 'poolcsi.io/pool', volume: 'poolcsi.io/volume' } as const;

const ANNOTATION = 'poolcsi.io/claim';

interface LeaseLike {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { holderIdentity?: string };
}

export function toLease(c: Claim): LeaseLike {
  const { name, resourceVersion, ...data } = c;
  return {
    metadata: {
      name,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { [LABELS.managed]: 'poolcsi', [LABELS.claim]: 'lun', [LABELS.pool]: poolLabel(c.pool), [LABELS.volume]: volumeLabel(c.volume) },
      annotations: { [ANNOTATION]: JSON.stringify(data) },
    },
    spec: { holderIdentity: c.volume },
  };
}

/** A claim from its Lease, or undefined when the object is not a well-formed claim (its LUN still counts as taken: the name says which). */
export function fromLease(l: LeaseLike): Claim | undefined {
  const name = l.metadata?.name;
  let d: Partial<Claim>;
  try { d = JSON.parse(l.metadata?.annotations?.[ANNOTATION] ?? '') as Partial<Claim>; } catch { return undefined; }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (!name || !str(d.pool) || !str(d.target) || !str(d.wwid) || !str(d.volume) || !Number.isInteger(d.lun) || !Number.isSafeInteger(d.sizeBytes)) return undefined;
  return {
    name, ...(l.metadata?.resourceVersion ? { resourceVersion: l.metadata.resourceVersion } : {}),
    pool: d.pool!, target: d.target!, wwid: d.wwid!, lun: d.lun!, sizeBytes: d.sizeBytes!, volume: d.volume!,
    requestName: str(d.requestName) ?? '', mode: d.mode === 'block' ? 'block' : 'filesystem',
    params: d.params && typeof d.params === 'object' ? d.params : {},
    ...(d.pvc && typeof d.pvc === 'object' ? { pvc: d.pvc } : {}),
    createdAt: str(d.createdAt) ?? '', published: d.published && typeof d.published === 'object' ? d.published : {}, releasing: d.releasing === true,
  };
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The driver's namespace: POOLCSI_NAMESPACE (the chart sets it) or POD_NAMESPACE, else the pod's service account's. */
export async function driverNamespace(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ns = env.POOLCSI_NAMESPACE ?? env.POD_NAMESPACE;
  if (ns) return ns;
  try {
    return (await readFile(SA_NAMESPACE, 'utf8')).trim();
  } catch {
    throw new StorageError('precondition', 'iscsi-luns pools keep their LUN claims as Leases in the driver\'s namespace: set POOLCSI_NAMESPACE (the chart does) or run in a pod');
  }
}

type Core = {
  listNamespacedLease(a: { namespace: string; labelSelector?: string }): Promise<{ items: LeaseLike[] }>;
  createNamespacedLease(a: { namespace: string; body: LeaseLike }): Promise<LeaseLike>;
  replaceNamespacedLease(a: { namespace: string; name: string; body: LeaseLike }): Promise<LeaseLike>;
  deleteNamespacedLease(a: { namespace: string; name: string; body?: unknown }): Promise<unknown>;
};

/** Claims in the Kubernetes API (kubeconfig from the usual places: in-cluster, KUBECONFIG). */
export class KubeClaims implements ClaimStore {
  description = 'Leases in the driver\'s namespace';
  private api?: Promise<{ core: Core; namespace: string }>;

  private connect(): Promise<{ core: Core; namespace: string }> {
    this.api ??= (async () => {
      const namespace = await driverNamespace();
      const k8s = await import('@kubernetes/client-node');
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      this.description = `Leases in namespace ${namespace}`;
      return { core: kc.makeApiClient(k8s.CoordinationV1Api) as unknown as Core, namespace };
    })().catch((e) => { this.api = undefined; throw e; });
    return this.api;
  }

  private async call<T>(what: string, f: (core: Core, namespace: string) => Promise<T>): Promise<T> {
    const { core, namespace } = await this.connect();
    try {
      return await f(core, namespace);
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409 || code === 404) throw e;
      if (code === 403) throw new StorageError('denied', `${what} in namespace ${namespace} was refused by the Kubernetes API: the controller needs list, create, update and delete on leases (coordination.k8s.io) there`);
      throw new StorageError('unavailable', `${what} in namespace ${namespace}: the Kubernetes API did not answer: ${(e as Error).message}`);
    }
  }

  async list(): Promise<Claim[]> {
    const r = await this.call('listing LUN claims', (core, namespace) => core.listNamespacedLease({ namespace, labelSelector: `${LABELS.claim}=lun` }));
    return r.items.map(fromLease).filter((c): c is Claim => !!c);
  }

  async create(c: Claim): Promise<Claim | 'taken'> {
    try {
      const cm = await this.call(`claiming LUN ${c.lun} (${c.wwid})`, (core, namespace) => core.createNamespacedLease({ namespace, body: toLease({ ...c, resourceVersion: undefined }) }));
      return fromLease(cm) ?? c;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return 'taken';
      throw e;
    }
  }

  async update(c: Claim): Promise<Claim | 'stale'> {
    try {
      const cm = await this.call(`updating the claim of LUN ${c.lun} (${c.wwid})`, (core, namespace) => core.replaceNamespacedLease({ namespace, name: c.name, body: toLease(c) }));
      return fromLease(cm) ?? c;
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409 || code === 404) return 'stale';
      throw e;
    }
  }

  async remove(c: Claim): Promise<void> {
    try {
      // Only the version read: a claim changed since (a publish) is not removed blindly.
      await this.call(`releasing the claim of LUN ${c.lun} (${c.wwid})`, (core, namespace) => core.deleteNamespacedLease({
        namespace, name: c.name, ...(c.resourceVersion ? { body: { preconditions: { resourceVersion: c.resourceVersion } } } : {}),
      }));
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 404) return;
      if (code === 409) throw new StorageError('busy', `the claim of LUN ${c.lun} changed while it was being released: retry`);
      throw e;
    }
  }
}

let current: ClaimStore | undefined;
export function claimStore(): ClaimStore { return (current ??= new KubeClaims()); }
export function setClaimStore(s: ClaimStore): void { current = s; }
