// Finding the node that holds a node-local volume. Volume ids carry no node, so the answer
// comes from the agents (the state is on their backends); it is cached, and a cache miss asks
// the pool's candidate nodes in parallel, once.
import type { Pool } from '../pools/schema.js';
import type { AgentDirectory } from './agents.js';

export class VolumeLocator {
  private readonly cache = new Map<string, string>();

  constructor(private readonly agents: AgentDirectory) {}

  candidates(pool: Pool): string[] {
    const reachable = this.agents.nodes();
    return pool.nodes ? pool.nodes.filter((n) => reachable.includes(n)) : reachable;
  }

  remember(pool: string, name: string, node: string): void { this.cache.set(`${pool}:${name}`, node); }
  forget(pool: string, name: string): void { this.cache.delete(`${pool}:${name}`); }

  /** The node holding the volume, or undefined when no candidate has it. */
  async locate(pool: Pool, name: string, has: (node: string) => Promise<boolean>): Promise<string | undefined> {
    const key = `${pool.id}:${name}`;
    const cached = this.cache.get(key);
    if (cached && (await has(cached))) return cached;
    this.cache.delete(key);
    const nodes = this.candidates(pool);
    const found = await Promise.all(nodes.map(async (n) => ((await has(n).catch(() => false)) ? n : undefined)));
    const node = found.find((n) => n !== undefined);
    if (node) this.cache.set(key, node);
    return node;
  }
}
