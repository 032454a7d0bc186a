// zfs failures as StorageErrors. zfs exits 1 for nearly everything, so the kind is read from
// its message (the phrases are the ones OpenZFS prints; test/fixtures/zfs/errors.json holds
// real ones recorded in the lab's ZFS guest).
import { ExecError } from '../../exec/index.js';
import { StorageError, type StorageErrorKind } from '../errors.js';

const RULES: Array<{ kind: StorageErrorKind; any: string[] }> = [
  { kind: 'exhausted', any: ['out of space', 'size is greater than available space', 'quota exceeded'] },
  { kind: 'exists', any: ['dataset already exists'] },
  { kind: 'precondition', any: ['has dependent clones', 'has children', 'dataset is busy', 'pool or dataset is busy', 'volume is busy'] },
  { kind: 'not-found', any: ['dataset does not exist', 'could not find any snapshots'] },
  { kind: 'invalid', any: ['invalid property', 'bad property value', 'must be a multiple of volume block size', 'must be power of 2', 'invalid character', 'is too long', 'bad numeric value', 'size is too large', 'size is less than current used size'] },
  { kind: 'unavailable', any: ['no such pool', 'i/o error', 'pool i/o is currently suspended', 'failed to initialize the libzfs library', '/dev/zfs'] },
];

export function zfsErrorKind(e: ExecError): StorageErrorKind {
  if (e.reason !== 'exit') return 'unavailable';
  const text = `${e.stderr}\n${e.stdout}`.toLowerCase();
  for (const r of RULES) if (r.any.some((f) => text.includes(f))) return r.kind;
  return 'internal';
}

/** Wraps a zfs failure (other errors pass through) with what was being done. */
export function zfsError(e: unknown, doing: string): unknown {
  if (!(e instanceof ExecError)) return e;
  const detail = e.stderr.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ') || e.message;
  return new StorageError(zfsErrorKind(e), `${doing}: ${e.program}${e.host ? ` on ${e.host}` : ''} ${e.reason === 'timeout' ? 'timed out' : 'failed'}: ${detail}`, { cause: e });
}

export function isKind(e: unknown, kind: StorageErrorKind): boolean {
  return e instanceof StorageError && e.kind === kind;
}
