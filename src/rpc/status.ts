// Mapping every failure to a gRPC status with a message a person can act on (docs/design.md §7).
// Shared by the CSI services and the agent protocol.
import { status } from '@grpc/grpc-js';
import { StorageError, type StorageErrorKind } from '../backends/errors.js';
import { ExecError } from '../exec/errors.js';
import { NodeError } from '../node/errors.js';
import { IdError } from '../pools/ids.js';

export class CsiError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
    this.name = 'CsiError';
  }
}

export const invalidArgument = (m: string) => new CsiError(status.INVALID_ARGUMENT, m);
export const notFound = (m: string) => new CsiError(status.NOT_FOUND, m);
export const failedPrecondition = (m: string) => new CsiError(status.FAILED_PRECONDITION, m);
export const aborted = (m: string) => new CsiError(status.ABORTED, m);
export const unavailable = (m: string) => new CsiError(status.UNAVAILABLE, m);

const KIND_CODE: Record<StorageErrorKind, status> = {
  invalid: status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  exists: status.ALREADY_EXISTS,
  'out-of-range': status.OUT_OF_RANGE,
  exhausted: status.RESOURCE_EXHAUSTED,
  precondition: status.FAILED_PRECONDITION,
  busy: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  denied: status.PERMISSION_DENIED,
  unsupported: status.INVALID_ARGUMENT,
  internal: status.INTERNAL,
};

/** Longest status message sent. The message travels in an HTTP/2 trailer: a grpc-js client
 * drops a response whose trailers exceed its header limit, and its channel then stalls. */
export const MAX_MESSAGE = 1024;

/** `s` cut to `max` characters with the count of what was left out. */
export function bounded(s: string, max = MAX_MESSAGE): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

/** A value from a request, for a message: quoted, escaped, and short. */
export function quote(value: unknown, max = 64): string {
  const s = String(value);
  return JSON.stringify(s.length <= max ? s : s.slice(0, max)) + (s.length > max ? `… (${s.length} characters)` : '');
}

/** Names the first few of `items` (quoted) and how many there are in all. */
export function firstFew(items: readonly string[], few = 5): string {
  const shown = items.slice(0, few).map((i) => quote(i)).join(', ');
  return items.length > few ? `${shown} and ${items.length - few} more (${items.length} in all)` : shown;
}

/** The gRPC code and message for any thrown value. */
export function toStatus(e: unknown): { code: status; message: string } {
  const { code, message } = statusOf(e);
  return { code, message: bounded(message) };
}

function statusOf(e: unknown): { code: status; message: string } {
  if (e instanceof CsiError) return { code: e.code, message: e.message };
  if (e instanceof StorageError || e instanceof NodeError) return { code: KIND_CODE[e.kind], message: e.message };
  // A malformed id reaching this point came from a request field: the request is malformed.
  if (e instanceof IdError) return { code: status.INVALID_ARGUMENT, message: e.message };
  if (e instanceof ExecError) {
    // 'spawn': the program could not be started, e.g. its storage host is unreachable over SSH.
    const code = e.reason === 'timeout' ? status.DEADLINE_EXCEEDED : e.reason === 'not-found' ? status.FAILED_PRECONDITION
      : e.reason === 'spawn' ? status.UNAVAILABLE : status.INTERNAL;
    return { code, message: e.message };
  }
  return { code: status.INTERNAL, message: e instanceof Error ? `internal error: ${e.message}` : 'internal error' };
}

export const codeName = (code: status): string => status[code] ?? String(code);
