// Which backend serves a request: shared pools are served by the controller's own backend,
// node-local pools by the agent of the node that owns (or will own) the volume.
import { isLocal } from '../backends/index.js';
import { StorageError } from '../backends/errors.js';
import type { Backend, CallOptions } from '../backends/types.js';
import type { Pool } from '../pools/schema.js';
import type { AgentDirectory, LocalBackends } from './agents.js';
import { VolumeLocator } from './locator.js';

export interface Routed { backend: Backend; node?: string }

export class Router {
  readonly locator: VolumeLocator;

  constructor(private readonly agents: AgentDirectory, private readonly shared: LocalBackends) {
    this.locator = new VolumeLocator(agents);
  }

  /** Nodes where a node-local pool can place volumes (its `nodes` with a reachable agent). */
  nodesOf(pool: Pool): string[] { return this.locator.candidates(pool); }

  onNode(pool: Pool, node: string): Routed {
    const agent = this.agents.forNode(node);
    if (!agent) throw new StorageError('unavailable', `no agent reachable on node ${node} for pool "${pool.id}"`);
    return { backend: agent.backend(pool), node };
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

  /** Backend holding an existing volume, or undefined when no backend has it. */
  async forExisting(pool: Pool, name: string, call?: CallOptions): Promise<Routed | undefined> {
    if (!isLocal(pool)) return { backend: this.shared.get(pool) };
    const node = await this.locator.locate(pool, name, async (n) => (await this.onNode(pool, n).backend.getVolume(name, call)) !== undefined);
    return node ? this.onNode(pool, node) : undefined;
  }

  /** Backend holding a snapshot (its source volume may be gone), or undefined. */
  async forSnapshot(pool: Pool, volume: string, snapshot: string, call?: CallOptions): Promise<Routed | undefined> {
    if (!isLocal(pool)) return { backend: this.shared.get(pool) };
    const node = await this.locator.locate(pool, `${volume}@${snapshot}`,
      async (n) => (await this.onNode(pool, n).backend.getSnapshot(volume, snapshot, call)) !== undefined);
    return node ? this.onNode(pool, node) : undefined;
  }

  /** Every backend of a pool: one for a shared pool, one per node for a node-local pool. */
  everywhere(pool: Pool): Routed[] {
    if (!isLocal(pool)) return [{ backend: this.shared.get(pool) }];
    return this.nodesOf(pool).map((n) => this.onNode(pool, n));
  }
}
