// Finding the node that holds a node-local volume or snapshot. Volume ids carry no node, and
// the controller keeps no record of its own: the backend on each node is the durable record
// (LV tags, dir state files). So every candidate node is asked, and "it is nowhere" is believed
// only when every candidate answered; a candidate that cannot be asked makes the answer
// UNAVAILABLE (the CO retries) rather than a wrong "not found". A cache of past answers is
// only a shortcut: a hit is asked again before it is believed.
import { StorageError } from '../backends/errors.js';
import type { Pool } from '../pools/schema.js';
import type { AgentDirectory } from './directory.js';

/** Whether `node` holds the object; throws when the node cannot be asked. */
export type Probe = (node: string) => Promise<boolean>;

export class VolumeLocator {
  private readonly cache = new Map<string, string>();

  constructor(private readonly agents: AgentDirectory) {}

  /** Nodes that may hold the pool's volumes: its `nodes`, else every known node, reachable or not. */
  candidates(pool: Pool): string[] { return pool.nodes ? [...pool.nodes] : this.agents.known(); }

  /** Nodes where the pool may place new volumes: candidates whose agent is reachable. */
  placeable(pool: Pool): string[] {
    const reachable = this.agents.nodes();
    return pool.nodes ? pool.nodes.filter((n) => reachable.includes(n)) : reachable;
  }

  remember(pool: string, name: string, node: string): void { this.cache.set(`${pool}:${name}`, node); }
  forget(pool: string, name: string): void { this.cache.delete(`${pool}:${name}`); }

  /**
   * The node holding `name` (a volume, or volume@snapshot) in `pool`; undefined only when every
   * candidate answered that it does not. StorageError 'unavailable' when a candidate could not
   * be asked and none of the others has it.
   */
  async locate(pool: Pool, name: string, has: Probe): Promise<string | undefined> {
    const key = `${pool.id}:${name}`;
    const cached = this.cache.get(key);
    if (cached && (await has(cached).catch(() => false))) return cached;
    this.cache.delete(key);
    const nodes = this.candidates(pool);
    if (!nodes.length) {
      throw new StorageError('unavailable', `pool "${pool.id}" is node-local and no node is known to this controller: cannot tell where ${name} is`);
    }
    const answers = await Promise.all(nodes.map(async (n) => {
      try {
        return { node: n, has: await has(n) };
      } catch (e) {
        return { node: n, error: (e as Error).message };
      }
    }));
    const node = answers.find((a) => a.has)?.node;
    if (node) {
      this.cache.set(key, node);
      return node;
    }
    const silent = answers.filter((a) => a.error !== undefined);
    if (silent.length) {
      throw new StorageError('unavailable', `cannot tell whether ${name} exists in pool "${pool.id}": `
        + `node(s) ${silent.map((a) => `${a.node} (${a.error})`).join('; ')} did not answer`
        + `${answers.length > silent.length ? `, and it is not on ${answers.filter((a) => a.error === undefined).map((a) => a.node).join(', ')}` : ''}; retry when they are back`);
    }
    return undefined;
  }
}
