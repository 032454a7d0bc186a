// `--agents nodes:PORT`: the agents are found through the Kubernetes Node objects (an
// informer): each Ready node's InternalIP at PORT, where the node plugin's agent listens
// (hostNetwork). This is what the chart configures; a static list (--agents n=host:port,...)
// serves clusters without API access (the lab, tests).
import type { Logger } from '../observe/log.js';
import type { Agent, AgentDirectory } from './agents.js';
import { RemoteAgent } from './remote.js';
import type { TlsFiles } from './tls.js';

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

/** The agent address of a Node, or undefined when it is not Ready or has no InternalIP. */
export function nodeAgentAddress(n: NodeLike, port: number): string | undefined {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!ready || !ip) return undefined;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export class KubeNodeAgentDirectory implements AgentDirectory {
  private readonly agents = new Map<string, RemoteAgent>();
  private stopInformer?: () => void;

  constructor(private readonly port: number, private readonly tls: TlsFiles, private readonly log: Logger, private readonly local?: Agent) {}

  /** Applies one Node's current state (also used by tests). */
  apply(n: NodeLike, deleted = false): void {
    const name = n.metadata?.name;
    if (!name || name === this.local?.node) return;
    const address = deleted ? undefined : nodeAgentAddress(n, this.port);
    const had = this.agents.get(name);
    if (had && had.address === address) return;
    had?.close();
    this.agents.delete(name);
    if (address) this.agents.set(name, new RemoteAgent(name, address, this.tls));
    if (had?.address !== address) this.log.info({ node: name, agent: address ?? null }, 'node agent address');
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

  forNode(node: string): Agent | undefined { return node === this.local?.node ? this.local : this.agents.get(node); }
  nodes(): string[] { return [...(this.local ? [this.local.node] : []), ...this.agents.keys()]; }

  close(): void {
    this.stopInformer?.();
    for (const a of this.agents.values()) a.close();
  }
}
