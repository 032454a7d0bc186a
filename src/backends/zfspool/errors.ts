// zfs failures as StorageErrors. zfs exits 1 for nearly everything, so the kind is read from
// its message. The phrases are OpenZFS 2.1's own, recorded in the lab's ZFS guest
// (test/fixtures/zfs/errors.json, test/unit/zfspool-recorded.test.ts); the few marked "libzfs"
// could not be provoked there and are libzfs_util.c's texts for EZFS_BUSY and friends.
import { ExecError } from '../../exec/index.js';
import { StorageError, type StorageErrorKind } from '../errors.js';

const RULES: Array<{ kind: StorageErrorKind; any: string[] }> = [
  // create -V / refreservation past the pool: "out of space"; set volsize or refreservation past it.
  { kind: 'exhausted', any: ['out of space', 'size is greater than available space'] },
  { kind: 'exists', any: ['dataset already exists'] },
  // destroy of a dataset with snapshots ("filesystem has children"; "volume has children" for a
  // zvol) or of a snapshot with clones; libzfs: "pool or dataset is busy".
  { kind: 'precondition', any: ['has children', 'has dependent clones', 'pool or dataset is busy', 'parent does not exist'] },
  { kind: 'not-found', any: ['dataset does not exist', 'could not find any snapshots'] },
  // "'compression' must be one of ...", "'volblocksize' must be power of 2 from 512B to 1M",
  // "'volsize' must be a multiple of volume block size (8K)", refquota below what is used.
  { kind: 'invalid', any: ['must be one of', 'must be power of 2', 'must be a multiple of volume block size', 'size is less than current used or reserved space'] },
  // libzfs: the module is not loaded, or the pool is suspended.
  { kind: 'unavailable', any: ['the zfs modules are not loaded', 'pool i/o is currently suspended', 'failed to initialize the libzfs library'] },
];

export function zfsErrorKind(e: ExecError): StorageErrorKind {
  if (e.reason !== 'exit') return 'unavailable';
  // Quoted parts are names and values (a dataset may be named like a phrase); the phrase is outside them.
  const text = `${e.stderr}\n${e.stdout}`.toLowerCase().replace(/'[^'\n]*'/g, "''");
  for (const r of RULES) if (r.any.some((f) => text.includes(f))) return r.kind;
  return 'internal';
}

/** Wraps a zfs failure (other errors pass through) with what was being done. */
export function zfsError(e: unknown, doing: string): unknown {
  if (!(e instanceof ExecError)) return e;
  const detail = e.stderr.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' | ') || e.message;
  return new StorageError(zfsErrorKind(e), `${doing}: ${e.program}${e.host ? ` on ${e.host}` : ''} ${e.reason === 'timeout' ? 'timed out' : 'failed'}: ${detail}`, { cause: e });
}

export function isKind(e: unknown, kind: StorageErrorKind): boolean {
  return e instanceof StorageError && e.kind === kind;
}
