// Where the controller finds the node agents. A directory knows two sets of nodes: those whose
// agent may take new volumes (reachable as far as it knows), and every node that may hold
// node-local volumes, reachable or not. Deletes must ask the second set (see locator.ts).
import type { Agent } from '../agent/agents.js';
import { RemoteAgent } from '../agent/remote.js';
import type { TlsFiles } from '../agent/tls.js';

export interface AgentDirectory {
  /** The agent of `node`, when there is an address to call it at. */
  forNode(node: string): Agent | undefined;
  /** Nodes whose agent may take new volumes (Ready, with an address). */
  nodes(): string[];
  /** Every node that may hold volumes of node-local pools, including NotReady and addressless ones. */
  known(): string[];
  close?(): void;
}

/** A controller without agents: node-local pools cannot be served (and nothing is known of them). */
export const NO_AGENTS: AgentDirectory = { forNode: () => undefined, nodes: () => [], known: () => [] };

/** A directory with just the in-process agent. */
export class SingleNodeDirectory implements AgentDirectory {
  constructor(private readonly agent: Agent) {}
  forNode(node: string): Agent | undefined { return node === this.agent.node ? this.agent : undefined; }
  nodes(): string[] { return [this.agent.node]; }
  known(): string[] { return this.nodes(); }
}

/** Agents at fixed addresses (--agents node=host:port,...), plus optionally this process's own. */
export class StaticAgentDirectory implements AgentDirectory {
  private readonly remote = new Map<string, RemoteAgent>();

  constructor(addresses: Record<string, string>, tls: TlsFiles, private readonly local?: Agent) {
    for (const [node, address] of Object.entries(addresses)) {
      if (node !== local?.node) this.remote.set(node, new RemoteAgent(node, address, tls));
    }
  }

  forNode(node: string): Agent | undefined { return node === this.local?.node ? this.local : this.remote.get(node); }
  nodes(): string[] { return [...(this.local ? [this.local.node] : []), ...this.remote.keys()]; }
  /** A static list has no notion of readiness: every listed node is known and tried. */
  known(): string[] { return this.nodes(); }
  close(): void { for (const a of this.remote.values()) a.close(); }
}

/** Parses --agents "node1=host:port,node2=host:port". */
export function parseAgentMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)=([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):([0-9]{1,5})$/.exec(part);
    if (!m) throw new Error(`--agents: "${part}" is not NODE=HOST:PORT`);
    if (out[m[1]!]) throw new Error(`--agents: node ${m[1]} is listed twice`);
    out[m[1]!] = `${m[3]}:${m[4]}`;
  }
  return out;
}
