// CHAP credentials of a publish in a pool with `chap` (and of an iscsi-luns controller's own login):
// the call's CSI secrets (the StorageClass's controller-publish or provisioner secret) first, then
// the pool's secretRef. Kept in memory for one call (written to an ACL from stdin); never in argv
// or a log line.
import { hasChap, parseChap, type Chap } from '../../node/transports/iscsi-chap.js';
import { StorageError } from '../errors.js';
import { secretSource, type SecretRef, type SecretSource } from '../secrets.js';
import type { CallOptions } from '../types.js';

/** The pool's CHAP credentials for this call, or undefined when the pool has no `chap`. */
export async function resolveChap(pool: { id: string; chap?: { secretRef?: SecretRef | undefined } | undefined }, call: CallOptions | undefined, source: SecretSource = secretSource()): Promise<Chap | undefined> {
  if (!pool.chap) return undefined;
  const checked = (data: Readonly<Record<string, string>>, origin: string): Chap => {
    const c = parseChap(data, origin);
    if (typeof c === 'string') throw new StorageError('invalid', c);
    return c;
  };
  if (hasChap(call?.secrets)) return checked(call!.secrets!, 'CSI secrets');
  const ref = pool.chap.secretRef;
  if (!ref) throw new StorageError('invalid', `pool "${pool.id}" requires CHAP: the request carries no CHAP secrets (StorageClass csi.storage.k8s.io/controller-publish-secret-name) and the pool has no chap.secretRef`);
  const origin = `Secret ${ref.namespace}/${ref.name}`;
  const data = await source.get(ref);
  if (!data) throw new StorageError('precondition', `pool "${pool.id}": ${origin} does not exist (looked up in ${source.description})`);
  return checked(data, origin);
}
