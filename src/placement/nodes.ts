// `--agents nodes:PORT`: the agents are found through the Kubernetes Node objects (an
// informer): each node's InternalIP at PORT, where the node plugin's agent listens
// (hostNetwork). This is what the chart configures; a static list (--agents n=host:port,...)
// serves clusters without API access (the lab, tests).
// Every Node object is a known node: a NotReady or addressless node takes no new volumes but
// stays a candidate holder of existing ones, so a delete waits for it instead of passing it by.
import type { Agent } from '../agent/agents.js';
import { RemoteAgent } from '../agent/remote.js';
import type { TlsFiles } from '../agent/tls.js';
import type { Logger } from '../observe/log.js';
import type { AgentDirectory } from './directory.js';

interface NodeLike {
  metadata?: { name?: string };
  status?: { addresses?: Array<{ type: string; address: string }>; conditions?: Array<{ type: string; status: string }> };
}

/** "nodes:9825" → 9825; undefined when the text is not that form. */
export function parseNodesPort(text: string): number | undefined {
  const m = /^nodes:([0-9]{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new Error(`--agents ${text}: port out of range`);
  return port;
}

/** The agent address of a Node (its InternalIP at `port`), or undefined when it has none. */
export function nodeAgentAddress(n: NodeLike, port: number): string | undefined {
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!ip) return undefined;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function nodeReady(n: NodeLike): boolean {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

export class KubeNodeAgentDirectory implements AgentDirectory {
  private readonly agents = new Map<string, RemoteAgent>();
  /** Every Node object, with whether it is Ready. */
  private readonly all = new Map<string, boolean>();
  private stopInformer?: () => void;

  constructor(private readonly port: number, private readonly tls: TlsFiles, private readonly log: Logger, private readonly local?: Agent) {}

  /** Applies one Node's current state (also used by tests). */
  apply(n: NodeLike, deleted = false): void {
    const name = n.metadata?.name;
    if (!name || name === this.local?.node) return;
    const ready = !deleted && nodeReady(n);
    const wasReady = this.all.get(name);
    if (deleted) this.all.delete(name); else this.all.set(name, ready);
    const address = deleted ? undefined : nodeAgentAddress(n, this.port);
    const had = this.agents.get(name);
    if (had?.address !== address) {
      had?.close();
      this.agents.delete(name);
      if (address) this.agents.set(name, new RemoteAgent(name, address, this.tls));
    }
    if (had?.address !== address || wasReady !== (deleted ? undefined : ready)) {
      this.log.info({ node: name, agent: address ?? null, ready, deleted }, 'node agent');
    }
  }

  async start(): Promise<void> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer<import('@kubernetes/client-node').V1Node>(kc, '/api/v1/nodes', () => core.listNode());
    informer.on('add', (n) => this.apply(n));
    informer.on('update', (n) => this.apply(n));
    informer.on('delete', (n) => this.apply(n, true));
    informer.on('error', (err: unknown) => {
      this.log.warn({ err: String(err) }, 'node informer error; restarting');
      setTimeout(() => { void informer.start(); }, 5_000).unref();
    });
    await informer.start();
    this.stopInformer = () => { void informer.stop(); };
  }

  /** The agent of any node with an address, Ready or not: a NotReady node's agent may still answer. */
  forNode(node: string): Agent | undefined { return node === this.local?.node ? this.local : this.agents.get(node); }
  nodes(): string[] {
    return [...(this.local ? [this.local.node] : []), ...[...this.agents.keys()].filter((n) => this.all.get(n) === true)];
  }
  known(): string[] { return [...(this.local ? [this.local.node] : []), ...this.all.keys()]; }

  close(): void {
    this.stopInformer?.();
    for (const a of this.agents.values()) a.close();
  }
}
