// LVM failures as StorageErrors. LVM's exit codes say little (5 = "failed"), so the kind is
// read from its messages; the message itself is kept for the operator.
import { ExecError } from '../../exec/index.js';
import { StorageError, type StorageErrorKind } from '../errors.js';

const RULES: Array<{ kind: StorageErrorKind; any: string[] }> = [
  { kind: 'exhausted', any: ['insufficient free space', 'insufficient suitable allocatable extents', 'free space in thin pool', 'reached threshold', 'out of data space', 'thin pool is full', 'not enough space'] },
  { kind: 'exists', any: ['already exists'] },
  { kind: 'precondition', any: ['in use', 'is open', 'contains a filesystem in use', 'has dependent', 'only while inactive'] },
  { kind: 'invalid', any: ['must not exceed number of physical volumes', 'are reserved', 'invalid argument', 'invalid stripe size', 'not a power of 2', 'too long', 'unable to create raid'] },
  { kind: 'not-found', any: ['failed to find logical volume'] },
  { kind: 'unavailable', any: ['volume group "', 'not found in volume group', 'cannot process volume group', 'device-mapper', 'no such device', 'locking'] },
];

/** The StorageError kind an LVM failure means, from its output. */
export function lvmErrorKind(e: ExecError): StorageErrorKind {
  if (e.reason === 'not-found') return 'unavailable';
  if (e.reason === 'timeout') return 'unavailable';
  // Over SSH: the storage host is unreachable, refused us, or the connection dropped.
  if (e.reason === 'spawn') return 'unavailable';
  const text = `${e.stderr}\n${e.stdout}`.toLowerCase();
  for (const r of RULES) if (r.any.some((f) => text.includes(f))) return r.kind;
  return 'internal';
}

/** Wraps an LVM failure (any other error passes through) with what was being done. */
export function lvmError(e: unknown, doing: string): unknown {
  if (!(e instanceof ExecError)) return e;
  const detail = e.stderr.trim().split('\n').map((l) => l.trim()).filter((l) => l && !/^File descriptor \d+ .* leaked/.test(l)).slice(-3).join(' | ')
    || e.message;
  return new StorageError(lvmErrorKind(e), `${doing}: ${e.program}${e.host ? ` on ${e.host}` : ''} ${e.reason === 'timeout' ? 'timed out' : 'failed'}: ${detail}`, { cause: e });
}

export function isKind(e: unknown, kind: StorageErrorKind): boolean {
  return e instanceof StorageError && e.kind === kind;
}
