// The admin commands' view of the driver: the pools (from the file or ConfigMap the driver
// reads) and a DriverContext built as `serve` builds it, so each command runs the very CSI
// handlers, routing and stores the driver runs. Node-local pools: this node's in process, or,
// with --agents, every node's through its agent (the controller's own code path).
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { InProcessAgent, LocalBackends } from '../agent/agents.js';
import { readTlsDir } from '../agent/tls.js';
import { DirSecrets, setSecretSource } from '../backends/secrets.js';
import { openAgents } from '../placement/agents.js';
import { parseAgentMap, SingleNodeDirectory, type AgentDirectory } from '../placement/directory.js';
import { parseNodesPort } from '../placement/nodes.js';
import { logger } from '../observe/log.js';
import { Router } from '../placement/router.js';
import type { DriverContext } from '../csi/context.js';
import { controllerHandlers } from '../csi/controller.js';
import { KeyedLocks } from '../csi/locks.js';
import type { Handler } from '../csi/rpc.js';
import { local, type Runner } from '../exec/index.js';
import { POOLS_KEY } from '../pools/source.js';
import { PoolRegistry } from '../pools/registry.js';
import { parsePools, PoolsError } from '../pools/validate.js';

export const DEFAULT_POOLS_FILE = '/etc/poolcsi/pools.yaml';

/** A refusal or failure: exit 1 with this one line. */
export class CliFailure extends Error {}

/** Bad usage: exit 2 with the command's help. */
export class CliUsage extends Error {
  constructor(message: string, readonly help: string) { super(message); }
}

export interface PoolsSource { poolsFile?: string | undefined; poolsConfigMap?: string | undefined }

async function poolsText(src: PoolsSource): Promise<{ text: string; origin: string }> {
  if (src.poolsFile && src.poolsConfigMap) throw new CliFailure('give only one of --pools-file and --pools-configmap');
  if (src.poolsConfigMap) {
    const [namespace, name, extra] = src.poolsConfigMap.split('/');
    if (!namespace || !name || extra !== undefined) throw new CliFailure('--pools-configmap must be NAMESPACE/NAME');
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace, name });
    const text = cm.data?.[POOLS_KEY];
    if (text === undefined) throw new CliFailure(`configmap ${namespace}/${name} has no key ${POOLS_KEY}`);
    return { text, origin: `configmap ${namespace}/${name}` };
  }
  const file = src.poolsFile ?? process.env.POOLCSI_POOLS_FILE ?? DEFAULT_POOLS_FILE;
  try {
    return { text: await readFile(file, 'utf8'), origin: file };
  } catch (e) {
    throw new CliFailure(`${file}: ${(e as Error).message}`);
  }
}

export async function loadRegistry(src: PoolsSource): Promise<PoolRegistry> {
  const { text, origin } = await poolsText(src);
  const registry = new PoolRegistry();
  try {
    registry.update(parsePools(text));
  } catch (e) {
    if (e instanceof PoolsError) throw new CliFailure(`${origin}: ${e.problems.join('; ')}`);
    throw e;
  }
  return registry;
}

export function nodeIdOf(flag: string | undefined): string { return flag ?? process.env.NODE_ID ?? hostname(); }

export interface LocalDriver {
  ctx: DriverContext;
  controller: Record<string, Handler>;
  /** Whether node-local pools are reached through node agents (--agents) rather than in process. */
  viaAgents: boolean;
  close(): void;
}

/**
 * The driver as `serve` builds it. Without `agents`: this node's backends in process, like
 * `serve --mode all` without --agents (node-local pools of this node only). With `agents` (the
 * directory --agents opens): like `serve --mode controller --agents`, every node-local pool
 * through its node's agent, never in this process.
 */
export function localDriver(registry: PoolRegistry, nodeId: string, runner: Runner = local, agents?: AgentDirectory): LocalDriver {
  const backends = new LocalBackends(runner, nodeId);
  const dir: AgentDirectory = agents ?? new SingleNodeDirectory(new InProcessAgent(nodeId, backends));
  const ctx: DriverContext = {
    nodeId, registry, router: new Router(dir, backends, (id) => registry.get(id)?.retired === true), locks: new KeyedLocks(), local: backends,
    knownNode: (n) => dir.nodes().includes(n), pathPrefixes: [],
  };
  return { ctx, controller: controllerHandlers(ctx), viaAgents: agents !== undefined, close: () => dir.close?.() };
}

export interface DriverFlags extends PoolsSource { nodeId?: string | undefined; agents?: string | undefined; agentTlsDir?: string | undefined; secretsDir?: string | undefined }

/** Flags every command that reaches pools takes (see AGENT_HELP). */
export const DRIVER_OPTS = {
  'pools-file': { type: 'string' }, 'pools-configmap': { type: 'string' }, 'node-id': { type: 'string' },
  agents: { type: 'string' }, 'agent-tls-dir': { type: 'string' }, 'secrets-dir': { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export const DRIVER_HELP = `  --pools-file       the pools.yaml (default: $POOLCSI_POOLS_FILE, then /etc/poolcsi/pools.yaml)
  --pools-configmap  read the pools from this ConfigMap (NAMESPACE/NAME, key pools.yaml) instead
  --node-id          this node's name (default: $NODE_ID, then the host name)
  --agents           reach node-local pools through the node agents, as the controller does:
                     "nodes:PORT" or NODE=HOST:PORT,... (what the controller's --agents says);
                     without it, only this node's node-local pools, in this process
  --agent-tls-dir    with --agents: ca.crt, tls.crt, tls.key of a controller certificate
  --secrets-dir      read the Secrets pools name in secretRef from DIR/NAMESPACE/NAME/KEY
                     (as serve --secrets-dir) instead of the Kubernetes API
  --json             machine-readable output
`;

type Opt = string | undefined;
export function driverFlags(v: { 'pools-file'?: Opt; 'pools-configmap'?: Opt; 'node-id'?: Opt; agents?: Opt; 'agent-tls-dir'?: Opt; 'secrets-dir'?: Opt }): DriverFlags {
  return { poolsFile: v['pools-file'], poolsConfigMap: v['pools-configmap'], nodeId: v['node-id'], agents: v.agents, agentTlsDir: v['agent-tls-dir'], secretsDir: v['secrets-dir'] };
}

/** Loads the pools and builds the driver for a command; `help` goes with a usage error. */
export async function openDriver(f: DriverFlags, help: string): Promise<LocalDriver> {
  if (f.agents !== undefined && !f.agentTlsDir) throw new CliUsage('--agents needs --agent-tls-dir (the agent protocol is mutual TLS only)', help);
  if (f.agentTlsDir && f.agents === undefined) throw new CliUsage('--agent-tls-dir goes with --agents', help);
  if (f.agents !== undefined) {
    try { if (parseNodesPort(f.agents) === undefined) parseAgentMap(f.agents); } catch (e) { throw new CliUsage((e as Error).message, help); }
  }
  if (f.secretsDir) setSecretSource(new DirSecrets(f.secretsDir));
  const registry = await loadRegistry(f);
  const nodeId = nodeIdOf(f.nodeId);
  if (f.agents === undefined) return localDriver(registry, nodeId);
  let tls;
  try { tls = await readTlsDir(f.agentTlsDir!); } catch (e) { throw new CliFailure((e as Error).message); }
  return localDriver(registry, nodeId, local, await openAgents(f.agents, tls, logger()));
}

/** Runs `fn` with the driver, closing its agent connections after (they would keep the process up). */
export async function withDriver<T>(f: DriverFlags, help: string, fn: (d: LocalDriver) => Promise<T>): Promise<T> {
  const d = await openDriver(f, help);
  try { return await fn(d); } finally { d.close(); }
}

/** Calls a CSI handler as the driver would, with an id for its log lines. */
export function call(h: Record<string, Handler>, method: string, req: object): Promise<any> {
  const handler = h[method];
  if (!handler) throw new Error(`no handler ${method}`);
  return handler(req, { requestId: `cli-${process.pid}` });
}
