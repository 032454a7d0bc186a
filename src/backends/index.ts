// The pool types poolcsi knows, and how to build a backend for a pool.
import type { Runner } from '../exec/index.js';
import type { Pool, PoolType } from '../pools/schema.js';
import { DirBackend, dirTraits } from './dir/backend.js';
import type { Backend, TypeTraits } from './types.js';

const TRAITS: Record<PoolType, TypeTraits> = {
  dir: dirTraits,
};

export function traitsOf(type: PoolType): TypeTraits { return TRAITS[type]; }

/** Whether the pool's volumes live on one node (and its work is done by that node's agent). */
export function isLocal(pool: Pool): boolean { return TRAITS[pool.type].local || pool.shared === false; }

/** Volume modes the pool serves: what its type can, narrowed by `volumeModes`. */
export function modesOf(pool: Pool): string[] {
  const can = TRAITS[pool.type].modes;
  return pool.volumeModes ? can.filter((m) => pool.volumeModes!.includes(m)) : [...can];
}

export function createBackend(pool: Pool, runner: Runner, nodeId: string): Backend {
  switch (pool.type) {
    case 'dir': return new DirBackend(pool, runner, nodeId);
  }
}
