// How a node reaches a zfspool volume: transport `zfs` with the dataset's name; the node asks
// ZFS whether it is a zvol (its device) or a filesystem (its mountpoint).
import type { ZfsPool } from '../../pools/schema.js';
import type { NodeContext } from '../types.js';
import { volumeDataset } from './names.js';

export function zfsNodeContext(pool: ZfsPool, name: string): NodeContext {
  return { transport: 'zfs', descriptor: { dataset: volumeDataset(pool.pool, name) } };
}
