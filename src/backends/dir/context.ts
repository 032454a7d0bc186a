// Where a dir volume's data lives, and how a node reaches it (transport `bind`).
import { join } from 'node:path';
import type { DirPool } from '../../pools/schema.js';
import type { NodeContext } from '../types.js';

/** The data directory of volume `name` (the node bind-mounts exactly this). */
export function volumeDataDir(pool: DirPool, name: string): string {
  return join(pool.path, 'volumes', name);
}

export function dirNodeContext(pool: DirPool, name: string): NodeContext {
  return { transport: 'bind', descriptor: { path: volumeDataDir(pool, name) } };
}
