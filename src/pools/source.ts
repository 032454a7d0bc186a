// Where pools come from: a file (--pools-file; SIGHUP reloads it) or the poolcsi-pools
// ConfigMap through an informer. A new version is validated first; an invalid one is logged,
// counted, reported as an Event, and the last good pools stay in force.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../observe/log.js';
import { poolReloads, poolsActive } from '../observe/metrics.js';
import type { PoolRegistry } from './registry.js';
import { parsePools, PoolsError } from './validate.js';

export const POOLS_KEY = 'pools.yaml';

/** Applies one version of the pools document; returns false (and keeps the old pools) when invalid. */
export function applyPools(registry: PoolRegistry, text: string, origin: string, log: Logger): boolean {
  try {
    registry.update(parsePools(text));
    poolReloads.inc({ result: 'ok' });
    poolsActive.set(registry.list().length);
    log.info({ origin, pools: registry.list().map((p) => `${p.id}(${p.type})`) }, 'pools loaded');
    return true;
  } catch (e) {
    poolReloads.inc({ result: 'invalid' });
    const problems = e instanceof PoolsError ? e.problems : [(e as Error).message];
    log.error({ origin, problems, kept: registry.loaded ? registry.list().map((p) => p.id) : [] },
      registry.loaded ? 'invalid pools update refused; the last good pools stay in force' : 'invalid pools; none loaded');
    return false;
  }
}

export async function loadPoolsFile(registry: PoolRegistry, file: string, log: Logger): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    log.error({ file, err: (e as Error).message }, 'cannot read pools file');
    return false;
  }
  return applyPools(registry, text, file, log);
}

/** Reload the file on SIGHUP. */
export function reloadOnHangup(registry: PoolRegistry, file: string, log: Logger): void {
  process.on('SIGHUP', () => { void loadPoolsFile(registry, file, log); });
}

/** Watches ConfigMap `namespace/name` key pools.yaml with an informer. */
export async function watchConfigMap(registry: PoolRegistry, namespace: string, name: string, log: Logger): Promise<() => void> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const origin = `configmap ${namespace}/${name}`;
  const informer = k8s.makeInformer<import('@kubernetes/client-node').V1ConfigMap>(
    kc, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }),
  );
  let lastApplied: string | undefined;
  const onChange = (cm: import('@kubernetes/client-node').V1ConfigMap) => {
    if (cm.metadata?.name !== name) return;
    const text = cm.data?.[POOLS_KEY];
    if (text === undefined) {
      log.error({ origin }, `ConfigMap has no key ${POOLS_KEY}; pools unchanged`);
      return;
    }
    if (text === lastApplied) return;
    if (applyPools(registry, text, origin, log)) {
      lastApplied = text;
    } else {
      void reportInvalid(core, cm, log);
    }
  };
  informer.on('add', onChange);
  informer.on('update', onChange);
  informer.on('delete', (cm) => {
    if (cm.metadata?.name === name) log.error({ origin }, 'pools ConfigMap deleted; the last loaded pools stay in force');
  });
  informer.on('error', (err: unknown) => {
    log.warn({ origin, err: String(err) }, 'pools informer error; restarting');
    setTimeout(() => { void informer.start(); }, 5_000).unref();
  });
  await informer.start();
  return () => { void informer.stop(); };
}

async function reportInvalid(core: import('@kubernetes/client-node').CoreV1Api, cm: import('@kubernetes/client-node').V1ConfigMap, log: Logger): Promise<void> {
  const ns = cm.metadata?.namespace ?? 'default';
  try {
    await core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { generateName: 'poolcsi-pools-' },
        involvedObject: { kind: 'ConfigMap', namespace: ns, name: cm.metadata?.name, uid: cm.metadata?.uid, apiVersion: 'v1' },
        reason: 'InvalidPools',
        message: 'poolcsi refused this pools.yaml; see the driver log for each problem. The last good pools stay in force.',
        type: 'Warning',
        source: { component: 'poolcsi' },
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    });
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not record an Event for the invalid pools');
  }
}
