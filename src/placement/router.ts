// Which backend serves a request: shared pools are served by the controller's own backend,
// node-local pools by the agent of the node that owns (or will own) the volume.
import type { AgentDirectory } from './directory.js';
import type { LocalBackends } from '../agent/agents.js';
import { isLocal } from '../backends/index.js';
import { StorageError } from '../backends/errors.js';
import type { Backend, CallOptions } from '../backends/types.js';
import { logger } from '../observe/log.js';
import type { Pool } from '../pools/schema.js';
import { VolumeLocator } from './locator.js';

export interface Routed { backend: Backend; node?: string }

export class Router {
  readonly locator: VolumeLocator;

  /** `retired(id)`: whether the pool is served as retired (remote agents then get its definition). */
  constructor(private readonly agents: AgentDirectory, private readonly shared: LocalBackends, private readonly retired: (pool: string) => boolean = () => false) {
    this.locator = new VolumeLocator(agents);
  }

  /** Nodes where a node-local pool can place volumes (its `nodes` with a reachable agent). */
  nodesOf(pool: Pool): string[] { return this.locator.placeable(pool); }

  onNode(pool: Pool, node: string): Routed {
    const agent = this.agents.forNode(node);
    if (!agent) throw new StorageError('unavailable', `no agent reachable on node ${node} for pool "${pool.id}"`);
    return { backend: agent.backend(pool, { retired: this.retired(pool.id) }), node };
  }

  /** Backend for a new volume; `preferred` are candidate nodes in the CO's order of preference. */
  forCreate(pool: Pool, preferred: string[]): Routed {
    if (!isLocal(pool)) return { backend: this.shared.get(pool) };
    const allowed = this.nodesOf(pool);
    const pick = preferred.length ? preferred.find((n) => allowed.includes(n)) : allowed.length === 1 ? allowed[0] : undefined;
    if (!pick) {
      const why = preferred.length
        ? `none of the requested nodes (${preferred.join(', ')}) has pool "${pool.id}" with a reachable agent (pool nodes: ${allowed.join(', ') || 'none'})`
        : `pool "${pool.id}" is node-local and the request names no node; use a StorageClass with volumeBindingMode WaitForFirstConsumer`;
      throw new StorageError(preferred.length ? 'exhausted' : 'invalid', why);
    }
    return this.onNode(pool, pick);
  }

  /**
   * Backend holding an existing volume, or undefined when every candidate node answered that
   * it has none. StorageError 'unavailable' when that cannot be told (see locator.ts).
   */
  async forExisting(pool: Pool, name: string, call?: CallOptions): Promise<Routed | undefined> {
    if (!isLocal(pool)) return { backend: this.shared.get(pool) };
    const node = await this.locator.locate(pool, name, async (n) => (await this.onNode(pool, n).backend.getVolume(name, call)) !== undefined);
    return node ? this.onNode(pool, node) : undefined;
  }

  /** Backend holding a snapshot (its source volume may be gone), or undefined; same rules. */
  async forSnapshot(pool: Pool, volume: string, snapshot: string, call?: CallOptions): Promise<Routed | undefined> {
    if (!isLocal(pool)) return { backend: this.shared.get(pool) };
    const node = await this.locator.locate(pool, `${volume}@${snapshot}`,
      async (n) => (await this.onNode(pool, n).backend.getSnapshot(volume, snapshot, call)) !== undefined);
    return node ? this.onNode(pool, node) : undefined;
  }

  /**
   * Every backend that may hold the pool's volumes: one for a shared pool, one per candidate
   * node for a node-local pool. For deletes: StorageError 'unavailable' when a candidate has
   * no agent to call.
   */
  everyCandidate(pool: Pool): Routed[] {
    if (!isLocal(pool)) return [{ backend: this.shared.get(pool) }];
    const nodes = this.locator.candidates(pool);
    if (!nodes.length) throw new StorageError('unavailable', `pool "${pool.id}" is node-local and no node is known to this controller`);
    return nodes.map((n) => this.onNode(pool, n));
  }

  /** Every backend of a pool that can be called now: one per reachable node for a node-local pool. */
  everywhere(pool: Pool): Routed[] {
    if (!isLocal(pool)) return [{ backend: this.shared.get(pool) }];
    return this.nodesOf(pool).map((n) => this.onNode(pool, n));
  }

  /**
   * `fn` on every reachable backend of the pool, for lists and capacity: a node-local pool's
   * node that does not answer (StorageError 'unavailable') is left out and logged, so one down
   * node does not hide every other node's volumes. Other failures are thrown.
   */
  async gather<T>(pool: Pool, fn: (b: Backend) => Promise<T>, onlyNode?: string): Promise<Array<{ routed: Routed; value: T }>> {
    const out: Array<{ routed: Routed; value: T }> = [];
    for (const routed of this.everywhere(pool).filter((r) => !onlyNode || r.node === onlyNode)) {
      try {
        out.push({ routed, value: await fn(routed.backend) });
      } catch (e) {
        if (!(routed.node && e instanceof StorageError && e.kind === 'unavailable')) throw e;
        logger().warn({ pool: pool.id, node: routed.node, error: e.message }, 'node left out of a list: its agent did not answer');
      }
    }
    return out;
  }
}
