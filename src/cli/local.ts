// The admin commands' view of the driver: the pools (from the file or ConfigMap the driver
// reads) and a DriverContext over this machine's backends, so each command runs the very
// CSI handlers and stores the driver runs. Node-local pools are served only on their own node
// (the in-process agent); on the controller side they would need the agents (docs/cli.md).
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { InProcessAgent, LocalBackends } from '../agent/agents.js';
import { SingleNodeDirectory } from '../placement/directory.js';
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

export interface LocalDriver { ctx: DriverContext; controller: Record<string, Handler> }

export function localDriver(registry: PoolRegistry, nodeId: string, runner: Runner = local): LocalDriver {
  const backends = new LocalBackends(runner, nodeId);
  const agents = new SingleNodeDirectory(new InProcessAgent(nodeId, backends));
  const ctx: DriverContext = {
    nodeId, registry, router: new Router(agents, backends), locks: new KeyedLocks(), local: backends,
    knownNode: (n) => n === nodeId, pathPrefixes: [],
  };
  return { ctx, controller: controllerHandlers(ctx) };
}

/** Calls a CSI handler as the driver would, with an id for its log lines. */
export function call(h: Record<string, Handler>, method: string, req: object): Promise<any> {
  const handler = h[method];
  if (!handler) throw new Error(`no handler ${method}`);
  return handler(req, { requestId: `cli-${process.pid}` });
}
