// Where a pool's `secretRef` is read from. Pools reference Kubernetes Secrets by name, never
// inline them; calls that carry no CSI secrets (GetCapacity, ListVolumes, node stats) need
// this lookup. Two sources:
//   KubeSecrets  the Kubernetes API (the controller's service account needs `get` on Secrets
//                in that namespace); the default.
//   DirSecrets   a directory laid out as <dir>/<namespace>/<name>/<key>, e.g. Secrets mounted
//                as volumes (`serve --secrets-dir`), or the lab, which has no API server.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from './errors.js';

export interface SecretRef { name: string; namespace: string }

export interface SecretSource {
  /** The Secret's data (decoded), or undefined when it does not exist. */
  get(ref: SecretRef): Promise<Record<string, string> | undefined>;
  readonly description: string;
}

const CACHE_MS = 30_000;

export class KubeSecrets implements SecretSource {
  readonly description = 'the Kubernetes API';
  private readonly cache = new Map<string, { at: number; data: Record<string, string> | undefined }>();
  private api?: Promise<{ readNamespacedSecret(a: { name: string; namespace: string }): Promise<{ data?: Record<string, string> }> }>;

  async get(ref: SecretRef): Promise<Record<string, string> | undefined> {
    const key = `${ref.namespace}/${ref.name}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.data;
    this.api ??= (async () => {
      const k8s = await import('@kubernetes/client-node');
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      return kc.makeApiClient(k8s.CoreV1Api);
    })();
    let data: Record<string, string> | undefined;
    try {
      const secret = await (await this.api).readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
      data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 404) data = undefined;
      else if (code === 403) throw new StorageError('denied', `reading Secret ${key} was refused by the Kubernetes API: grant the driver "get" on secrets in namespace ${ref.namespace}`);
      else throw new StorageError('unavailable', `cannot read Secret ${key} from the Kubernetes API: ${(e as Error).message}`);
    }
    this.cache.set(key, { at: Date.now(), data });
    return data;
  }
}

const SEGMENT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export class DirSecrets implements SecretSource {
  readonly description: string;

  constructor(private readonly dir: string) { this.description = `directory ${dir}`; }

  async get(ref: SecretRef): Promise<Record<string, string> | undefined> {
    // The ref comes from a validated pool, but a path is built from it: check again.
    if (!SEGMENT.test(ref.namespace) || !SEGMENT.test(ref.name)) return undefined;
    const base = join(this.dir, ref.namespace, ref.name);
    let keys: string[];
    try {
      keys = await readdir(base);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError('unavailable', `cannot read secret directory ${base}: ${(e as Error).message}`);
    }
    // Secret volumes hold ..data links and dot-dirs beside the keys; keys never start with a dot.
    const data: Record<string, string> = {};
    for (const k of keys.filter((k) => !k.startsWith('.'))) {
      data[k] = (await readFile(join(base, k), 'utf8')).replace(/\n$/, '');
    }
    return data;
  }
}

let current: SecretSource = new KubeSecrets();

export function secretSource(): SecretSource { return current; }
export function setSecretSource(s: SecretSource): void { current = s; }
