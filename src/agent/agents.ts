// Delegation of node-local pools (DESIGN §3). The controller never touches a node-local
// pool itself: it asks the agent of the node that owns the volume. An agent exposes the
// same Backend contract, so the controller code is the same for local and shared pools.
import type { Pool } from '../pools/schema.js';
import type { Backend } from '../backends/types.js';
import { createBackend } from '../backends/index.js';
import type { Runner } from '../exec/index.js';

/** The agent of one node: gives the backend for a pool on that node. */
export interface Agent {
  readonly node: string;
  backend(pool: Pool): Backend;
}

/** Where the controller finds agents. */
export interface AgentDirectory {
  forNode(node: string): Agent | undefined;
  /** Nodes with a reachable agent. */
  nodes(): string[];
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

/** A directory with just the in-process agent. */
export class SingleNodeDirectory implements AgentDirectory {
  constructor(private readonly agent: Agent) {}
  forNode(node: string): Agent | undefined { return node === this.agent.node ? this.agent : undefined; }
  nodes(): string[] { return [this.agent.node]; }
}
