// The pools in force. An update replaces the set, but a pool that disappears is kept as
// "retired": its existing volumes keep working, it just takes no new ones, until it is
// confirmed empty and forgotten. A pool's type and identity fields (identity.ts) are
// immutable; an update that changes them is refused whole. What the registry knows can be
// saved and restored (memory.ts), so retirement and identity survive restarts.
import { EventEmitter } from 'node:events';
import { identityChanges } from './identity.js';
import type { PoolMemory } from './memory.js';
import type { Pool, PoolsFile } from './schema.js';
import { PoolsError } from './validate.js';

export interface PoolEntry { pool: Pool; retired: boolean }

export class PoolRegistry extends EventEmitter {
  private active = new Map<string, Pool>();
  private retired = new Map<string, Pool>();
  private generation = 0;

  get loaded(): boolean { return this.generation > 0; }
  get version(): number { return this.generation; }

  /**
   * Takes in a saved memory (before the first update): every remembered pool is served as
   * retired until the pools list defines it again, and its identity is checked then.
   */
  restore(m: PoolMemory): void {
    for (const p of [...m.retired, ...m.active]) if (!this.active.has(p.id)) this.retired.set(p.id, p);
  }

  /** What the memory would be after update(file). Throws PoolsError on an incompatible change. */
  plan(file: PoolsFile): PoolMemory {
    const problems: string[] = [];
    for (const p of file.pools) {
      const old = this.active.get(p.id) ?? this.retired.get(p.id);
      if (old) problems.push(...identityChanges(old, p));
    }
    if (problems.length) throw new PoolsError(problems);
    const next = new Set(file.pools.map((p) => p.id));
    const retired = new Map(this.retired);
    for (const [id, p] of this.active) if (!next.has(id)) retired.set(id, p);
    for (const id of next) retired.delete(id);
    return { active: [...file.pools], retired: [...retired.values()] };
  }

  /** Replaces the active set. Throws PoolsError (and keeps the old set) on an incompatible change. */
  update(file: PoolsFile): void {
    const m = this.plan(file);
    this.active = new Map(m.active.map((p) => [p.id, p] as const));
    this.retired = new Map(m.retired.map((p) => [p.id, p] as const));
    this.generation++;
    this.emit('change', this.generation);
  }

  /** The memory without retired pool `id` (see forget). */
  without(id: string): PoolMemory {
    return { active: [...this.active.values()], retired: [...this.retired.values()].filter((p) => p.id !== id) };
  }

  /** Forgets a retired pool (confirmed empty). Active pools are never forgotten. */
  forget(id: string): boolean {
    const had = this.retired.delete(id);
    if (had) this.emit('forget', id);
    return had;
  }

  /** Everything to remember across restarts. */
  memory(): PoolMemory { return { active: [...this.active.values()], retired: [...this.retired.values()] }; }

  /** A pool by id, active or retired (existing volumes of retired pools keep working). */
  get(id: string): PoolEntry | undefined {
    const a = this.active.get(id);
    if (a) return { pool: a, retired: false };
    const r = this.retired.get(id);
    return r ? { pool: r, retired: true } : undefined;
  }

  /** Active pools. */
  list(): Pool[] { return [...this.active.values()]; }

  /** Retired pools. */
  listRetired(): Pool[] { return [...this.retired.values()]; }

  /** Active and retired pools, for listing existing volumes. */
  all(): PoolEntry[] {
    return [
      ...[...this.active.values()].map((pool) => ({ pool, retired: false })),
      ...[...this.retired.values()].map((pool) => ({ pool, retired: true })),
    ];
  }
}
