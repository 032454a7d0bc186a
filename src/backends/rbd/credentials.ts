// cephx credentials: from the call's CSI secrets (ceph-csi convention: userID + userKey) or,
// for calls that carry none, from the pool's secretRef. The key only ever lives in memory
// (non-enumerable, so a logged object cannot show it) and in a 0600 file inside a private
// 0700 directory that exists for one operation: never in argv, never in a log line.
import type { RbdPool } from '../../pools/schema.js';
import { checkCephx, Cephx, USER_ID, USER_KEY, withKeyfile } from '../../node/transports/cephx.js';
import { StorageError } from '../errors.js';
import { secretSource, type SecretSource } from '../secrets.js';
import type { CallOptions } from '../types.js';

export { Cephx, USER_ID, USER_KEY, withKeyfile };

/** Checks and normalizes a user id ("client.x" → "x") and key. */
export function makeCephx(user: string | undefined, key: string | undefined, origin: string): Cephx {
  const c = checkCephx(user, key, origin);
  if (typeof c === 'string') throw new StorageError('denied', c);
  return c;
}

/** Credentials for a call: its CSI secrets first, then the pool's secretRef. */
export async function resolveCephx(pool: RbdPool, call: CallOptions | undefined, source: SecretSource = secretSource()): Promise<Cephx> {
  const s = call?.secrets;
  if (s && (s[USER_KEY] !== undefined || s[USER_ID] !== undefined)) {
    return makeCephx(s[USER_ID] ?? pool.user, s[USER_KEY], 'CSI secrets');
  }
  if (!pool.secretRef) {
    throw new StorageError('denied', `no cephx credentials for pool "${pool.id}": the request carries no CSI secrets (${USER_ID}, ${USER_KEY}) and the pool has no secretRef`);
  }
  const ref = pool.secretRef;
  const origin = `Secret ${ref.namespace}/${ref.name}`;
  const data = await source.get(ref);
  if (!data) throw new StorageError('precondition', `pool "${pool.id}": ${origin} does not exist (looked up in ${source.description})`);
  return makeCephx(data[USER_ID] ?? pool.user, data[USER_KEY], origin);
}
