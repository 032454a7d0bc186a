// Delegation of node-local pools (docs/design.md §3). The controller never touches a node-local
// pool itself: it asks the agent of the node that owns the volume. An agent exposes the
// same Backend contract, so the controller code is the same for local and shared pools.
// Which agents exist and where they are is placement's business (src/placement/directory.ts).
import type { Pool } from '../pools/schema.js';
import type { Backend } from '../backends/types.js';
import { createBackend } from '../backends/index.js';
import type { Runner } from '../exec/index.js';

export interface BackendOptions {
  /**
   * The controller serves the pool as retired (removed from its pools list): a remote agent
   * is handed the definition so it can still reach the pool's existing volumes.
   */
  retired?: boolean;
}

/** The agent of one node: gives the backend for a pool on that node. */
export interface Agent {
  readonly node: string;
  backend(pool: Pool, opts?: BackendOptions): Backend;
}

/** Backends built on this machine, one per pool definition (rebuilt when the definition changes). */
export class LocalBackends {
  private readonly cache = new Map<string, { pool: Pool; backend: Backend }>();

  constructor(private readonly runner: Runner, private readonly nodeId: string) {}

  get(pool: Pool): Backend {
    const hit = this.cache.get(pool.id);
    if (hit && hit.pool === pool) return hit.backend;
    const backend = createBackend(pool, this.runner, this.nodeId);
    this.cache.set(pool.id, { pool, backend });
    return backend;
  }
}

/** The agent running in this process (`--mode all`, and the node plugin's own agent service). */
export class InProcessAgent implements Agent {
  constructor(readonly node: string, private readonly backends: LocalBackends) {}
  backend(pool: Pool): Backend { return this.backends.get(pool); }
}
