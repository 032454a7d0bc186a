// How a node reaches an rbd volume: transport `rbd` (krbd map with the node-stage secrets).
// The monitors and options come from the pool; no credential is ever put here (the context
// is stored in the PV, readable by anyone who can read PVs).
import type { RbdPool } from '../../pools/schema.js';
import type { NodeContext } from '../types.js';

export function rbdNodeContext(pool: RbdPool, name: string): NodeContext {
  return {
    transport: 'rbd',
    descriptor: {
      monhost: pool.monhost.join(','),
      pool: pool.pool,
      image: name,
      ...(pool.mapOptions?.length ? { mapOptions: pool.mapOptions.join(',') } : {}),
      udev: pool.udev,
    },
  };
}
