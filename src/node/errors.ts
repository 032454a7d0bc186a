// Failures of the node side (transports, descriptors, the stash), by kind. The CSI layer maps
// the kinds to gRPC codes as it does for storage errors (csi/errors.ts).
export type NodeErrorKind = 'invalid' | 'not-found' | 'precondition' | 'unavailable' | 'denied' | 'internal';

export class NodeError extends Error {
  constructor(readonly kind: NodeErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NodeError';
  }
}
