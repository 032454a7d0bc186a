// Failures of the node side (transports, descriptors, the stash), by kind. The CSI layer maps
// the kinds to gRPC codes as it does for storage errors (csi/errors.ts).
import { ExecError } from '../exec/index.js';
export type NodeErrorKind = 'invalid' | 'not-found' | 'precondition' | 'unavailable' | 'denied' | 'internal';

export class NodeError extends Error {
  constructor(readonly kind: NodeErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NodeError';
  }
}

/** A program's failure as a NodeError: the last two lines it printed (stderr, then stdout:
 * iscsiadm and multipathd answer there) after what it was doing. */
export function execFailure(e: unknown, doing: string): NodeError {
  if (e instanceof NodeError) return e;
  if (e instanceof ExecError) {
    const detail = `${e.stderr}\n${e.stdout}`.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ') || e.message;
    const kind = e.reason === 'timeout' ? 'unavailable' : e.reason === 'not-found' ? 'precondition' : e.reason === 'exit' ? 'unavailable' : 'internal';
    return new NodeError(kind, `${doing}: ${detail}`, { cause: e });
  }
  return new NodeError('internal', `${doing}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
