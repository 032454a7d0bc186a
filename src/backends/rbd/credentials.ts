// cephx credentials: from the call's CSI secrets (ceph-csi convention: userID + userKey) or,
// for calls that carry none, from the pool's secretRef. The key only ever lives in memory
// (non-enumerable, so a logged object cannot show it) and in a 0600 file inside a private
// 0700 directory that exists for one operation: never in argv, never in a log line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RbdPool } from '../../pools/schema.js';
import { StorageError } from '../errors.js';
import { secretSource, type SecretSource } from '../secrets.js';
import type { CallOptions } from '../types.js';

export const USER_ID = 'userID';
export const USER_KEY = 'userKey';

// A cephx key is base64 of a 28-byte blob (40 characters); allow some slack, refuse junk early.
const KEY = /^[A-Za-z0-9+/]{20,200}={0,2}$/;
const USER = /^[A-Za-z0-9_.-]{1,64}$/;

export class Cephx {
  declare readonly key: string;

  constructor(readonly user: string, key: string, readonly origin: string) {
    Object.defineProperty(this, 'key', { value: key, enumerable: false });
  }

  toJSON(): object { return { user: this.user, origin: this.origin, key: '[REDACTED]' }; }
}

/** Checks and normalizes a user id ("client.x" → "x") and key. */
export function makeCephx(user: string | undefined, key: string | undefined, origin: string): Cephx {
  const id = (user ?? '').trim().replace(/^client\./, '');
  if (!USER.test(id)) throw new StorageError('denied', `${origin}: "${USER_ID}" is missing or not a cephx user name`);
  const k = (key ?? '').trim();
  if (!k) throw new StorageError('denied', `${origin}: "${USER_KEY}" is missing`);
  if (!KEY.test(k)) throw new StorageError('denied', `${origin}: "${USER_KEY}" is not a cephx key (base64, as printed by "ceph auth print-key")`);
  return new Cephx(id, k, origin);
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

/** Runs fn with the key in a private 0600 file; the file and its directory are gone afterwards. */
export async function withKeyfile<T>(cred: Cephx, fn: (keyfile: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-cephx-'));
  try {
    const file = join(dir, 'key');
    await writeFile(file, cred.key, { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
