// A cephx identity in memory (the key non-enumerable, so a logged object cannot show it) and
// in a 0600 file inside a private 0700 directory that exists for one operation: never in argv,
// never in a log line. Used by the krbd transport (node-stage secrets) and the rbd store.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const USER_ID = 'userID';
export const USER_KEY = 'userKey';

// A cephx key is base64 of a 28-byte blob (40 characters); allow some slack, refuse junk early.
export const CEPHX_KEY = /^[A-Za-z0-9+/]{20,200}={0,2}$/;
export const CEPHX_USER = /^[A-Za-z0-9_.-]{1,64}$/;

export class Cephx {
  declare readonly key: string;

  constructor(readonly user: string, key: string, readonly origin: string) {
    Object.defineProperty(this, 'key', { value: key, enumerable: false });
  }

  toJSON(): object { return { user: this.user, origin: this.origin, key: '[REDACTED]' }; }
}

/** The checked identity, or why it is not one (the message never holds the key). */
export function checkCephx(user: string | undefined, key: string | undefined, origin: string): Cephx | string {
  const id = (user ?? '').trim().replace(/^client\./, '');
  if (!CEPHX_USER.test(id)) return `${origin}: "${USER_ID}" is missing or not a cephx user name`;
  const k = (key ?? '').trim();
  if (!k) return `${origin}: "${USER_KEY}" is missing`;
  if (!CEPHX_KEY.test(k)) return `${origin}: "${USER_KEY}" is not a cephx key (base64, as printed by "ceph auth print-key")`;
  return new Cephx(id, k, origin);
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
