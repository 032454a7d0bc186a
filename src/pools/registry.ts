// The pools in force. An update replaces the set, but a pool that disappears is kept as
// "retired": its existing volumes keep working, it just takes no new ones. A pool's type
// and identity fields are immutable; an update that changes them is refused whole.
import { EventEmitter } from 'node:events';
import type { Pool, PoolsFile } from './schema.js';
import { PoolsError } from './validate.js';

export interface PoolEntry { pool: Pool; retired: boolean }

export class PoolRegistry extends EventEmitter {
  private active = new Map<string, Pool>();
  private retired = new Map<string, Pool>();
  private generation = 0;

  get loaded(): boolean { return this.generation > 0; }
  get version(): number { return this.generation; }

  /** Replaces the active set. Throws PoolsError (and keeps the old set) on an incompatible change. */
  update(file: PoolsFile): void {
    const problems: string[] = [];
    for (const p of file.pools) {
      const old = this.active.get(p.id) ?? this.retired.get(p.id);
      if (old && old.type !== p.type) problems.push(`pool "${p.id}" field type: cannot change from ${old.type} to ${p.type} (pool ids are immutable)`);
    }
    if (problems.length) throw new PoolsError(problems);
    const next = new Map(file.pools.map((p) => [p.id, p] as const));
    for (const [id, p] of this.active) if (!next.has(id)) this.retired.set(id, p);
    for (const id of next.keys()) this.retired.delete(id);
    this.active = next;
    this.generation++;
    this.emit('change', this.generation);
  }

  /** A pool by id, active or retired (existing volumes of retired pools keep working). */
  get(id: string): PoolEntry | undefined {
    const a = this.active.get(id);
    if (a) return { pool: a, retired: false };
    const r = this.retired.get(id);
    return r ? { pool: r, retired: true } : undefined;
  }

  /** Active pools. */
  list(): Pool[] { return [...this.active.values()]; }

  /** Active and retired pools, for listing existing volumes. */
  all(): PoolEntry[] {
    return [
      ...[...this.active.values()].map((pool) => ({ pool, retired: false })),
      ...[...this.retired.values()].map((pool) => ({ pool, retired: true })),
    ];
  }
}
