// Storage-level failures, independent of gRPC; csi/errors.ts maps each kind to a status code.
export type StorageErrorKind =
  | 'invalid'          // bad request or parameter
  | 'not-found'
  | 'exists'           // same name, incompatible
  | 'out-of-range'     // capacity range cannot be satisfied
  | 'exhausted'        // pool full
  | 'precondition'     // state forbids it (e.g. dependents exist)
  | 'busy'             // another operation holds the object
  | 'unavailable'      // backend unreachable
  | 'denied'           // credentials refused
  | 'unsupported'      // pool type can't do this
  | 'internal';

export class StorageError extends Error {
  constructor(readonly kind: StorageErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export const invalid = (m: string) => new StorageError('invalid', m);
export const notFound = (m: string) => new StorageError('not-found', m);
export const exists = (m: string) => new StorageError('exists', m);
export const outOfRange = (m: string) => new StorageError('out-of-range', m);
export const exhausted = (m: string) => new StorageError('exhausted', m);
export const precondition = (m: string) => new StorageError('precondition', m);
export const unsupported = (m: string) => new StorageError('unsupported', m);
/** The refusal when growing to `size` would pass the request's limit (checked before growing). */
export function checkGrowLimit(name: string, size: number, limitBytes: number): void {
  if (limitBytes > 0 && size > limitBytes) throw outOfRange(`growing ${name} to ${size} bytes would pass limit_bytes ${limitBytes}`);
}
export const unavailable = (m: string, cause?: unknown) => new StorageError('unavailable', m, { cause });
