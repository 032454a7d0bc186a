// `poolcsi serve`: the controller plugin, the node plugin, or both in one process.
import { hostname } from 'node:os';
import { InProcessAgent, LocalBackends } from '../agent/agents.js';
import { startAgentServer } from '../agent/service.js';
import { readTlsDir } from '../agent/tls.js';
import { openAgents } from '../placement/agents.js';
import { NO_AGENTS, SingleNodeDirectory, type AgentDirectory } from '../placement/directory.js';
import { RetiredPools } from '../placement/retired.js';
import { Router } from '../placement/router.js';
import { controllerHandlers } from '../csi/controller.js';
import { parseEndpoint } from '../csi/endpoint.js';
import { identityHandlers } from '../csi/identity.js';
import { KeyedLocks } from '../csi/locks.js';
import { nodeHandlers } from '../csi/node.js';
import { loadCsi } from '../csi/proto.js';
import { wrap } from '../csi/rpc.js';
import { claimSocketPath, startServer, stopServer, type ServiceBinding } from '../csi/server.js';
import type { DriverContext } from '../csi/context.js';
import { DirSecrets, setSecretSource } from '../backends/secrets.js';
import { local } from '../exec/index.js';
import { createLogger, setLogger, type Logger } from '../observe/log.js';
import { serveMetrics } from '../observe/metrics.js';
import { PoolRegistry } from '../pools/registry.js';
import { FileMemory, type MemoryStore, type PoolMemory } from '../pools/memory.js';
import { applyLastGood, applyPools, forgetPool, loadPoolsFile, reloadOnHangup, restoreMemory, watchConfigMap } from '../pools/source.js';
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';

/** Where the embedded default `dir` pool keeps its volumes. */
export const DEFAULT_DIR_POOL = process.env.POOLCSI_DEFAULT_DIR ?? '/var/lib/poolcsi/local';
export const DEFAULT_ENDPOINT = 'unix:///run/poolcsi/csi.sock';
/** Where the controller keeps the pool memory with --pools-file (known-pools.json). */
export const DEFAULT_STATE_DIR = '/var/lib/poolcsi';

export type Mode = 'controller' | 'node' | 'all';

export interface ServeOptions {
  mode: Mode;
  endpoint: string;
  nodeId?: string;
  poolsFile?: string;
  poolsConfigMap?: string;
  metricsAddress?: string;
  logLevel?: string;
  pathPrefixes?: string[];
  maxVolumesPerNode?: number;
  /** Serve the agent protocol (node plugin) on HOST:PORT. */
  agentListen?: string;
  /** ca.crt, tls.crt, tls.key for the agent protocol (both sides). */
  agentTlsDir?: string;
  /** Controller: where each node's agent listens, "nodes:PORT" or "node=host:port,...". */
  agents?: string;
  /** Agent: names a controller client certificate may carry (default poolcsi-controller). */
  agentClientNames?: string[];
  /** Read pools' secretRefs from <dir>/<namespace>/<name>/<key> instead of the Kubernetes API. */
  secretsDir?: string;
  /** Controller with --pools-file: where the pool memory (retired pools, identities) is kept. */
  stateDir?: string;
  /** On stop, keep serving until every client has disconnected, at most this long (ms). */
  drainMs?: number;
}

export const SERVE_HELP = `Usage: poolcsi serve --mode controller|node|all [--endpoint unix:///path.sock]
                     [--pools-file FILE | --pools-configmap NAMESPACE/NAME]
                     [--node-id NAME] [--metrics-address HOST:PORT] [--log-level LEVEL]
                     [--path-prefix DIR ...] [--max-volumes-per-node N]
                     [--agent-listen HOST:PORT] [--agents nodes:PORT|NODE=HOST:PORT,...]
                     [--agent-tls-dir DIR] [--agent-client-name NAME ...]
                     [--secrets-dir DIR] [--state-dir DIR] [--drain-seconds N]

Serves the CSI Identity service plus:
  controller  the Controller service (shared pools directly, node-local pools through agents)
  node        the Node service and this node's agent for node-local pools
  all         both in one process, the agent called in process (lab, csi-sanity)

  --endpoint           unix:///abs/path.sock, or tcp://host:port for tests
                       (default unix:///run/poolcsi/csi.sock)
  --node-id            this node's name (default: $NODE_ID, then the host name)
  --pools-file         a pools.yaml file; SIGHUP reloads it
  --pools-configmap    NAMESPACE/NAME of the ConfigMap holding pools.yaml (watched)
                       With neither, one embedded default pool is served: a dir pool "local"
                       at /var/lib/poolcsi/local (or $POOLCSI_DEFAULT_DIR).
  --metrics-address    serve Prometheus /metrics and /healthz on HOST:PORT
  --log-level          trace, debug, info (default), warn, error
  --path-prefix        staging/target paths must lie under this directory (repeatable;
                       the chart sets the kubelet directory)
  --max-volumes-per-node  reported in NodeGetInfo (0 = no limit)
  --agent-listen       node, all: serve this node's agent (controller → node delegation for
                       node-local pools) on HOST:PORT, with mutual TLS
  --agents             controller, all: where the node agents listen: "nodes:PORT" (each Ready
                       Kubernetes Node's InternalIP at PORT, watched; what the chart sets) or a
                       static list NODE=HOST:PORT,... (lab, clusters without API access).
                       Without it a controller serves shared pools only; --mode all also
                       serves its own node in process
  --agent-tls-dir      directory with ca.crt, tls.crt and tls.key (a Kubernetes TLS Secret):
                       the agent's certificate must name poolcsi-agent, the controller's
                       poolcsi-controller (see --agent-client-name), both signed by ca.crt
  --agent-client-name  node, all: a name (CN or DNS SAN) the controller's client certificate
                       may carry (repeatable; default poolcsi-controller)
  --secrets-dir        read the Secrets that pools name in secretRef from DIR/NAMESPACE/NAME/KEY
                       (e.g. Secrets mounted as volumes) instead of the Kubernetes API
  --state-dir          controller, all with --pools-file: keep the pool memory (pools removed
                       from the list but still holding volumes, and each pool's identity) in
                       DIR/known-pools.json (default /var/lib/poolcsi). With --pools-configmap
                       it is an annotation on that ConfigMap instead
  --drain-seconds      on SIGTERM, keep serving until every client of the CSI socket has
                       disconnected, at most N seconds (default 0). The chart sets it for the
                       controller: its sidecars finish their calls and release their leader
                       leases before the socket goes (a sidecar that loses the socket exits
                       holding its lease, and a new pod waits the lease out)
`;

/** A start-up failure already written to the log as a JSON line. */
export class StartError extends Error {
  constructor(message: string) { super(message); this.name = 'StartError'; }
}

export async function serve(o: ServeOptions): Promise<{ stop: () => Promise<void>; metricsAddress?: string }> {
  const log = createLogger({ level: o.logLevel ?? 'info' });
  setLogger(log);
  // What has been started so far, stopped again (newest first) when a later step fails, so a
  // failed start exits instead of serving half of what was asked.
  const started: Array<() => Promise<void> | void> = [];
  try {
    return await start(o, log, started);
  } catch (e) {
    for (const undo of started.reverse()) await Promise.resolve(undo()).catch(() => undefined);
    log.fatal({ error: (e as Error).message }, 'poolcsi cannot start');
    throw new StartError((e as Error).message);
  }
}

async function start(o: ServeOptions, log: Logger, started: Array<() => Promise<void> | void>): Promise<{ stop: () => Promise<void>; metricsAddress?: string }> {
  const registry = new PoolRegistry();
  if (o.poolsFile && o.poolsConfigMap) throw new Error('give only one of --pools-file and --pools-configmap');
  const endpoint = parseEndpoint(o.endpoint);
  const nodeId = o.nodeId || process.env.NODE_ID || hostname();
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeId)) throw new Error(`--node-id "${nodeId}" is not a valid Kubernetes node name`);
  // Ports and sockets first: a second instance or a busy port stops the start before anything
  // (watches, agent connections) begins.
  if (endpoint.kind === 'unix') await claimSocketPath(endpoint.path);
  let metrics: Server | undefined;
  if (o.metricsAddress) {
    try {
      metrics = await serveMetrics(o.metricsAddress, () => registry.loaded);
    } catch (e) {
      throw new Error(`--metrics-address ${o.metricsAddress}: ${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use' : (e as Error).message}`);
    }
    started.push(() => { metrics!.close(); });
  }

  if (o.secretsDir) setSecretSource(new DirSecrets(o.secretsDir));
  const backends = new LocalBackends(local, nodeId);
  const agent = new InProcessAgent(nodeId, backends);
  if ((o.agents || o.agentListen) && !o.agentTlsDir) throw new Error('--agents and --agent-listen need --agent-tls-dir (the agent protocol is mutual TLS only)');
  if (o.agentListen && o.mode === 'controller') throw new Error('--agent-listen belongs to the node plugin (--mode node or all)');
  if (o.agents && o.mode === 'node') throw new Error('--agents belongs to the controller (--mode controller or all)');
  const tls = o.agentTlsDir ? await readTlsDir(o.agentTlsDir) : undefined;
  // Node-local pools are reached through agents: remote ones over gRPC + mTLS (--agents), and
  // in --mode all this process's own node in process. A controller without --agents serves
  // shared pools only.
  const ownAgent = o.mode === 'all' ? agent : undefined;
  let agents: AgentDirectory;
  if (o.agents) {
    agents = await openAgents(o.agents, tls!, log, ownAgent);
    started.push(() => agents.close?.());
  } else agents = o.mode === 'controller' ? NO_AGENTS : new SingleNodeDirectory(agent);
  const router = new Router(agents, backends, (id) => registry.get(id)?.retired === true);
  // The controller remembers pools across restarts (pools/memory.ts); the node plugin does not
  // need to: its agent gets a retired pool's definition from the controller with each call.
  const remember = o.mode !== 'node';
  let memory: MemoryStore | undefined;
  const ctx: DriverContext = {
    nodeId,
    registry,
    router,
    locks: new KeyedLocks(),
    local: backends,
    retiredPoolTouched: (id) => { void retired.check(id); },
    // With agents (the chart: every Node object; or a static list) the directory says which
    // nodes exist, and a publish to any other is NOT_FOUND. A controller without agents serves
    // shared pools only and has no list: any well-formed node name is taken.
    knownNode: (n) => (o.agents || o.mode !== 'controller' ? agents.known().includes(n) : /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n)),
    pathPrefixes: o.pathPrefixes ?? [],
  };

  const retired = new RetiredPools(registry, router, (id) => forgetPool(registry, id, log, memory), log);
  let stopWatch: (() => void) | undefined;
  if (!o.poolsFile && !o.poolsConfigMap) {
    // The embedded default: one `dir` pool, enough to try poolcsi (and csi-sanity) anywhere.
    await mkdir(DEFAULT_DIR_POOL, { recursive: true, mode: 0o700 });
    await applyPools(registry, `pools:\n  - id: local\n    type: dir\n    path: ${DEFAULT_DIR_POOL}\n`, 'embedded default', log);
  } else if (o.poolsFile) {
    let remembered: PoolMemory | undefined;
    if (remember) {
      memory = new FileMemory(o.stateDir ?? DEFAULT_STATE_DIR);
      remembered = await restoreMemory(registry, memory, log);
    }
    if (!(await loadPoolsFile(registry, o.poolsFile, log, memory)) && memory) {
      await applyLastGood(registry, remembered, o.poolsFile, memory.where, log, memory);
    }
    reloadOnHangup(registry, o.poolsFile, log, memory);
  } else {
    const [ns, name] = o.poolsConfigMap!.split('/');
    if (!ns || !name) throw new Error('--pools-configmap must be NAMESPACE/NAME');
    const watch = await watchConfigMap(registry, ns, name, log, { remember });
    stopWatch = watch.stop;
    started.push(() => stopWatch?.());
    memory = watch.memory;
  }
  if (remember && memory) {
    retired.start();
    started.push(() => retired.stop());
    void retired.checkAll();
  }

  const csi = loadCsi();
  const withController = o.mode !== 'node';
  const withNode = o.mode !== 'controller';
  const services: ServiceBinding[] = [
    { definition: csi.Identity.service, impl: wrap('Identity', identityHandlers({ controller: withController, ready: () => registry.loaded })) },
  ];
  if (withController) services.push({ definition: csi.Controller.service, impl: wrap('Controller', controllerHandlers(ctx)) });
  if (withNode) services.push({ definition: csi.Node.service, impl: wrap('Node', nodeHandlers(ctx, local, o.maxVolumesPerNode ?? 0)) });

  const running = await startServer(endpoint, services);
  started.push(() => stopServer(running, 1000));
  const agentServer = o.agentListen ? (await startAgentServer(o.agentListen, tls!, { nodeId, registry, backends, ...(o.agentClientNames?.length ? { clientNames: o.agentClientNames } : {}) })).server : undefined;
  log.info({ mode: o.mode, endpoint: o.endpoint, nodeId, metrics: o.metricsAddress, agentListen: o.agentListen, agents: agents.nodes() }, 'poolcsi serving');

  const bound = metrics?.address();
  return {
    ...(bound && typeof bound === 'object' ? { metricsAddress: `${bound.address}:${bound.port}` } : {}),
    stop: async () => {
      if (o.drainMs && running.whenIdle) {
        log.info({ drainMs: o.drainMs }, 'stopping: serving until every client has disconnected');
        const idle = await running.whenIdle(o.drainMs);
        log.info({ idle }, idle ? 'every client has disconnected' : 'clients still connected at the drain deadline');
      }
      stopWatch?.();
      metrics?.close();
      if (agentServer) await stopServer({ server: agentServer });
      retired.stop();
      agents.close?.();
      await stopServer(running);
      // Pools on storage hosts keep an SSH connection open, which would keep this process
      // alive past SIGTERM (until the pod's grace period ends in SIGKILL). Loaded here, not
      // at start: a node plugin without such pools never loads the SSH client.
      await (await import('../backends/ssh.js')).closeSshRunners();
    },
  };
}

