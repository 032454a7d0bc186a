// The durable memory of pools: every pool definition applied and still in force, and every
// retired one (removed from the list, kept until confirmed empty). After a restart the
// controller serves remembered pools as retired until the list defines them again, so a pool
// removed while it was down still deletes its volumes, and an identity change made while it
// was down is still refused. Kept in a state file (--pools-file) or as an annotation on the
// pools ConfigMap (source.ts); only the controller writes it.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../sys/atomic.js';
import { PoolSchema, type Pool } from './schema.js';

export interface PoolMemory { active: Pool[]; retired: Pool[] }

export interface MemoryStore {
  /** Where the memory lives, for messages. */
  readonly where: string;
  load(): Promise<PoolMemory | undefined>;
  save(m: PoolMemory): Promise<void>;
}

export const MEMORY_VERSION = 1;
export const EMPTY_MEMORY: PoolMemory = { active: [], retired: [] };

const MemorySchema = z.object({
  version: z.literal(MEMORY_VERSION),
  active: z.array(PoolSchema),
  retired: z.array(PoolSchema),
});

/** The stored text: stable (pools sorted by id), so an unchanged memory is not written again. */
export function encodeMemory(m: PoolMemory): string {
  const byId = (a: Pool, b: Pool) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return JSON.stringify({ version: MEMORY_VERSION, active: [...m.active].sort(byId), retired: [...m.retired].sort(byId) });
}

/** Parses and validates stored text (external input: a file or an annotation anyone may edit). */
export function decodeMemory(text: string, where: string): PoolMemory {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`the pool memory in ${where} is not JSON; fix or remove it by hand (see docs/troubleshooting.md)`);
  }
  const r = MemorySchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`the pool memory in ${where} is invalid (${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); `
      + 'fix or remove it by hand (see docs/troubleshooting.md)');
  }
  return { active: r.data.active, retired: r.data.retired };
}

/** The memory in a state file, `<stateDir>/known-pools.json`, written atomically. */
export class FileMemory implements MemoryStore {
  readonly where: string;
  private last?: string;

  constructor(private readonly dir: string) { this.where = join(dir, 'known-pools.json'); }

  async load(): Promise<PoolMemory | undefined> {
    let text: string;
    try {
      text = await readFile(this.where, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const m = decodeMemory(text, this.where);
    this.last = encodeMemory(m);
    return m;
  }

  async save(m: PoolMemory): Promise<void> {
    const text = encodeMemory(m);
    if (text === this.last) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.where, `${text}\n`);
    this.last = text;
  }
}
