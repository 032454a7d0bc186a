// From a failed `rbd` / `ceph` run to a StorageError a person can act on. Both tools exit with
// the errno of the failure (rbd: 2 ENOENT, 13 EACCES, 110 ETIMEDOUT...), and say it on stderr.
import { ExecError } from '../../exec/index.js';
import { StorageError, type StorageErrorKind } from '../errors.js';

export const ENOENT = 2;
export const EACCES = 13;
export const EPERM = 1;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOTEMPTY = 39;
export const EOPNOTSUPP = 95;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const ESHUTDOWN = 108;
export const ESTALE = 116;

/** Where a call went, for messages. */
export interface Target { pool: string; poolId: string; user: string; monhost: string[]; timeoutSeconds: number }

/** The errno a ceph tool failed with, or undefined (timeout, not installed...). */
export function errnoOf(e: unknown): number | undefined {
  if (!(e instanceof ExecError) || e.reason !== 'exit') return undefined;
  // `ceph` (python) exits 1 for many failures; "[errno N]" on stderr says which, when it does.
  if (e.program === 'ceph' && e.exitCode === 1) {
    const m = /\[errno (\d+)\]/.exec(e.stderr);
    return m ? Number(m[1]) : undefined;
  }
  return e.exitCode;
}

function kindFor(e: ExecError): StorageErrorKind | undefined {
  if (e.reason === 'timeout' || e.reason === 'spawn') return 'unavailable';
  if (e.reason === 'not-found') return 'precondition';
  const errno = errnoOf(e);
  if (errno === ETIMEDOUT || errno === ECONNREFUSED || errno === ESHUTDOWN || e.mentions('timed out')) return 'unavailable';
  if (errno === EACCES || errno === EPERM) return 'denied';
  // A key that is not valid base64 is refused while reading it ("failed to decode key").
  if (e.mentions('failed to decode key', 'keyring not found')) return 'denied';
  if (errno === ENOENT) return 'not-found';
  if (errno === EEXIST) return 'exists';
  if (errno === EBUSY) return 'precondition';
  // The image changed under the command (another client removing it at the same moment): a retry settles it.
  if (errno === ESTALE) return 'busy';
  if (errno === ENOTEMPTY) return 'precondition';
  if (errno === ENOSPC) return 'exhausted';
  if (errno === EOPNOTSUPP) return 'unsupported';
  return undefined;
}

/** Wraps a failure of `what` (e.g. "rbd create kube/pvc-1") in a StorageError. */
export function cephError(e: unknown, what: string, t: Target): StorageError {
  if (e instanceof StorageError) return e;
  if (!(e instanceof ExecError)) return new StorageError('internal', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  const kind = kindFor(e) ?? 'internal';
  const detail = e.stderr.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ') || e.message;
  let message: string;
  switch (kind) {
    case 'denied':
      message = `Ceph refused client.${t.user} for pool ${t.pool} (wrong key, unknown user or missing caps): ${what}: ${detail}`;
      break;
    case 'unavailable':
      message = `Ceph monitors ${t.monhost.join(',')} did not answer within ${t.timeoutSeconds} s (pool "${t.poolId}"): ${what}: ${detail}`;
      break;
    case 'precondition':
      message = e.reason === 'not-found' ? `${e.program} is not installed here (Debian/Ubuntu package ceph-common): ${what}` : `${what}: ${detail}`;
      break;
    default:
      message = `${what}: ${detail}`;
  }
  return new StorageError(kind, message, { cause: e });
}
