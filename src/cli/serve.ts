// `poolcsi serve`: the controller plugin, the node plugin, or both in one process.
import { hostname } from 'node:os';
import { InProcessAgent, LocalBackends, SingleNodeDirectory, type AgentDirectory } from '../agent/agents.js';
import { Router } from '../agent/router.js';
import { controllerHandlers } from '../csi/controller.js';
import { parseEndpoint } from '../csi/endpoint.js';
import { identityHandlers } from '../csi/identity.js';
import { KeyedLocks } from '../csi/locks.js';
import { nodeHandlers } from '../csi/node.js';
import { loadCsi } from '../csi/proto.js';
import { wrap } from '../csi/rpc.js';
import { startServer, stopServer, type ServiceBinding } from '../csi/server.js';
import type { DriverContext } from '../csi/context.js';
import { DirSecrets, setSecretSource } from '../backends/secrets.js';
import { local } from '../exec/index.js';
import { createLogger, setLogger } from '../observe/log.js';
import { serveMetrics } from '../observe/metrics.js';
import { PoolRegistry } from '../pools/registry.js';
import { applyPools, loadPoolsFile, reloadOnHangup, watchConfigMap } from '../pools/source.js';
import { mkdir } from 'node:fs/promises';

/** Where the embedded default `dir` pool keeps its volumes. */
export const DEFAULT_DIR_POOL = process.env.POOLCSI_DEFAULT_DIR ?? '/var/lib/poolcsi/local';
export const DEFAULT_ENDPOINT = 'unix:///run/poolcsi/csi.sock';

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
  /** Read pools' secretRefs from <dir>/<namespace>/<name>/<key> instead of the Kubernetes API. */
  secretsDir?: string;
}

export const SERVE_HELP = `Usage: poolcsi serve --mode controller|node|all [--endpoint unix:///path.sock]
                     [--pools-file FILE | --pools-configmap NAMESPACE/NAME]
                     [--node-id NAME] [--metrics-address HOST:PORT] [--log-level LEVEL]
                     [--path-prefix DIR ...] [--max-volumes-per-node N] [--secrets-dir DIR]

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
  --secrets-dir        read the Secrets that pools name in secretRef from DIR/NAMESPACE/NAME/KEY
                       (e.g. Secrets mounted as volumes) instead of the Kubernetes API
`;

export async function serve(o: ServeOptions): Promise<{ stop: () => Promise<void>; metricsAddress?: string }> {
  const log = createLogger({ level: o.logLevel ?? 'info' });
  setLogger(log);
  if (o.poolsFile && o.poolsConfigMap) throw new Error('give only one of --pools-file and --pools-configmap');
  const endpoint = parseEndpoint(o.endpoint);
  const nodeId = o.nodeId || process.env.NODE_ID || hostname();
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeId)) throw new Error(`--node-id "${nodeId}" is not a valid Kubernetes node name`);

  if (o.secretsDir) setSecretSource(new DirSecrets(o.secretsDir));
  const registry = new PoolRegistry();
  const backends = new LocalBackends(local, nodeId);
  const agent = new InProcessAgent(nodeId, backends);
  // Remote agents (controller-only deployments) are reached over gRPC with mTLS; until that
  // transport is configured, a controller without a local agent serves shared pools only.
  const agents: AgentDirectory = o.mode === 'controller' ? { forNode: () => undefined, nodes: () => [] } : new SingleNodeDirectory(agent);
  const ctx: DriverContext = {
    nodeId,
    registry,
    router: new Router(agents, backends),
    locks: new KeyedLocks(),
    local: backends,
    knownNode: (n) => agents.nodes().includes(n) || (o.mode === 'controller' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n)),
    pathPrefixes: o.pathPrefixes ?? [],
  };

  let stopWatch: (() => void) | undefined;
  if (!o.poolsFile && !o.poolsConfigMap) {
    // The embedded default: one `dir` pool, enough to try poolcsi (and csi-sanity) anywhere.
    await mkdir(DEFAULT_DIR_POOL, { recursive: true, mode: 0o700 });
    applyPools(registry, `pools:\n  - id: local\n    type: dir\n    path: ${DEFAULT_DIR_POOL}\n`, 'embedded default', log);
  } else if (o.poolsFile) {
    await loadPoolsFile(registry, o.poolsFile, log);
    reloadOnHangup(registry, o.poolsFile, log);
  } else {
    const [ns, name] = o.poolsConfigMap!.split('/');
    if (!ns || !name) throw new Error('--pools-configmap must be NAMESPACE/NAME');
    stopWatch = await watchConfigMap(registry, ns, name, log);
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
  const metrics = o.metricsAddress ? await serveMetrics(o.metricsAddress, () => registry.loaded) : undefined;
  log.info({ mode: o.mode, endpoint: o.endpoint, nodeId, metrics: o.metricsAddress }, 'poolcsi serving');

  const bound = metrics?.address();
  return {
    ...(bound && typeof bound === 'object' ? { metricsAddress: `${bound.address}:${bound.port}` } : {}),
    stop: async () => {
      stopWatch?.();
      metrics?.close();
      await stopServer(running);
    },
  };
}

