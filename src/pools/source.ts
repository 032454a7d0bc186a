// Where pools come from: a file (--pools-file; SIGHUP reloads it) or the poolcsi-pools
// ConfigMap through an informer. A new version is validated first; an invalid one is logged,
// counted, reported as an Event, and the last good pools stay in force. With a memory store
// (the controller), what a version changes in the pool memory is saved before it is applied:
// a removal that could not be remembered is not applied either.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../observe/log.js';
import { poolReloads, poolsActive, poolsRetired } from '../observe/metrics.js';
import { decodeMemory, encodeMemory, type MemoryStore, type PoolMemory } from './memory.js';
import type { PoolRegistry } from './registry.js';
import { parsePools, PoolsError } from './validate.js';

export const POOLS_KEY = 'pools.yaml';
/** Annotation on the pools ConfigMap holding the pool memory (memory.ts); the controller writes it. */
export const MEMORY_ANNOTATION = 'poolcsi.io/known-pools';

// Changes to one registry run one at a time: each saves the memory, then applies.
const queues = new WeakMap<PoolRegistry, Promise<unknown>>();
function serial<T>(registry: PoolRegistry, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(registry) ?? Promise.resolve()).then(fn, fn);
  queues.set(registry, run.catch(() => undefined));
  return run;
}

function counted(registry: PoolRegistry): void {
  poolsActive.set(registry.list().length);
  poolsRetired.set(registry.listRetired().length);
}

/** Applies one version of the pools document; returns false (and keeps the old pools) when refused. */
export function applyPools(registry: PoolRegistry, text: string, origin: string, log: Logger, memory?: MemoryStore): Promise<boolean> {
  return serial(registry, async () => {
    let problems: string[];
    let result = 'invalid';
    try {
      const file = parsePools(text);
      const before = new Set(registry.list().map((p) => p.id));
      const next = registry.plan(file);
      if (memory) {
        try {
          await memory.save(next);
        } catch (e) {
          result = 'unsaved';
          throw new PoolsError([`cannot save the pool memory to ${memory.where}: ${(e as Error).message}`]);
        }
      }
      registry.update(file);
      poolReloads.inc({ result: 'ok' });
      counted(registry);
      const retired = registry.listRetired().filter((p) => before.has(p.id)).map((p) => p.id);
      log.info({ origin, pools: registry.list().map((p) => `${p.id}(${p.type})`), retired: registry.listRetired().map((p) => p.id) }, 'pools loaded');
      if (retired.length) {
        log.warn({ origin, retired }, 'pools removed from the list are retired: they take no new volumes and keep serving their existing ones until confirmed empty');
      }
      return true;
    } catch (e) {
      problems = e instanceof PoolsError ? e.problems : [(e as Error).message];
    }
    poolReloads.inc({ result });
    log.error({ origin, problems, kept: registry.loaded ? registry.list().map((p) => p.id) : [] },
      registry.loaded ? 'pools update refused; the last good pools stay in force' : 'pools refused; none loaded');
    return false;
  });
}

/** Forgets a retired pool confirmed empty: saved first, so a failed save forgets nothing. */
export function forgetPool(registry: PoolRegistry, id: string, log: Logger, memory?: MemoryStore): Promise<boolean> {
  return serial(registry, async () => {
    if (!registry.get(id)?.retired) return false;
    if (memory) await memory.save(registry.without(id));
    registry.forget(id);
    counted(registry);
    log.info({ pool: id }, 'retired pool is empty on every node that may hold it: forgotten');
    return true;
  });
}

/** Restores the registry from a memory store (file mode; the ConfigMap carries its own, see
 * watchConfigMap); returns what it read, for applyLastGood. */
export async function restoreMemory(registry: PoolRegistry, memory: MemoryStore, log: Logger): Promise<PoolMemory | undefined> {
  const m = await memory.load();
  if (!m) return undefined;
  registry.restore(m);
  counted(registry);
  log.info({ from: memory.where, remembered: [...m.active, ...m.retired].map((p) => p.id) }, 'pool memory restored');
  return m;
}

export async function loadPoolsFile(registry: PoolRegistry, file: string, log: Logger, memory?: MemoryStore): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    log.error({ file, err: (e as Error).message }, 'cannot read pools file');
    return false;
  }
  return applyPools(registry, text, file, log, memory);
}

/**
 * A process that starts while its pools list is refused serves the pools last applied, taken
 * from the pool memory, until the list is fixed: "the last good pools stay in force" holds
 * across restarts too. Does nothing once pools are loaded.
 */
export async function applyLastGood(registry: PoolRegistry, m: PoolMemory | undefined, origin: string, where: string, log: Logger, memory?: MemoryStore): Promise<boolean> {
  if (!m?.active.length || registry.loaded) return false;
  if (!(await applyPools(registry, JSON.stringify({ pools: m.active }), `${origin} (the last good pools, from ${where})`, log, memory))) return false;
  log.warn({ origin, pools: m.active.map((p) => p.id) }, 'pools.yaml is refused: serving the last good pools until it is fixed');
  return true;
}

/** Reload the file on SIGHUP. */
export function reloadOnHangup(registry: PoolRegistry, file: string, log: Logger, memory?: MemoryStore): void {
  process.on('SIGHUP', () => { void loadPoolsFile(registry, file, log, memory); });
}

type CoreApi = import('@kubernetes/client-node').CoreV1Api;
type ConfigMap = import('@kubernetes/client-node').V1ConfigMap;

/** The pool memory as an annotation on the pools ConfigMap, replaced with optimistic concurrency. */
export class ConfigMapMemory implements MemoryStore {
  readonly where: string;
  private last?: string;

  constructor(private readonly core: CoreApi, private readonly namespace: string, private readonly name: string) {
    this.where = `annotation ${MEMORY_ANNOTATION} of configmap ${namespace}/${name}`;
  }

  /** The memory carried by a ConfigMap object (the informer's copy). */
  fromObject(cm: ConfigMap): PoolMemory | undefined {
    const text = cm.metadata?.annotations?.[MEMORY_ANNOTATION];
    if (text === undefined) return undefined;
    const m = decodeMemory(text, this.where);
    this.last = encodeMemory(m);
    return m;
  }

  async load(): Promise<PoolMemory | undefined> {
    return this.fromObject(await this.core.readNamespacedConfigMap({ namespace: this.namespace, name: this.name }));
  }

  async save(m: PoolMemory): Promise<void> {
    const text = encodeMemory(m);
    if (text === this.last) return;
    // Read, change the one annotation, replace at that resourceVersion; a concurrent edit of the
    // ConfigMap makes the replace fail with 409 and the loop reads again.
    for (let attempt = 1; ; attempt++) {
      const cm = await this.core.readNamespacedConfigMap({ namespace: this.namespace, name: this.name });
      cm.metadata = { ...cm.metadata, annotations: { ...cm.metadata?.annotations, [MEMORY_ANNOTATION]: text } };
      try {
        await this.core.replaceNamespacedConfigMap({ namespace: this.namespace, name: this.name, body: cm });
        this.last = text;
        return;
      } catch (e) {
        if ((e as { code?: number }).code !== 409 || attempt >= 5) throw e;
      }
    }
  }
}

/**
 * Watches ConfigMap `namespace/name` key pools.yaml with an informer. With `remember` (the
 * controller), the pool memory is restored from the ConfigMap's annotation before its first
 * version is applied, and every change is saved there.
 */
export async function watchConfigMap(registry: PoolRegistry, namespace: string, name: string, log: Logger, o: { remember?: boolean } = {}): Promise<{ stop: () => void; memory?: MemoryStore }> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const origin = `configmap ${namespace}/${name}`;
  const memory = o.remember ? new ConfigMapMemory(core, namespace, name) : undefined;
  let restored = !memory;
  const informer = k8s.makeInformer<ConfigMap>(
    kc, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }),
  );
  let lastApplied: string | undefined;
  const onChange = (cm: ConfigMap) => {
    if (cm.metadata?.name !== name) return;
    if (!restored) {
      try {
        const m = memory!.fromObject(cm);
        if (m) registry.restore(m);
        counted(registry);
        restored = true;
        if (m) log.info({ from: memory!.where, remembered: [...m.active, ...m.retired].map((p) => p.id) }, 'pool memory restored');
      } catch (e) {
        // Applying pools without the memory could forget retired pools: wait for a fixed annotation.
        log.error({ origin, err: (e as Error).message }, 'pool memory unreadable; pools not loaded');
        void reportEvent(core, cm, log, 'InvalidPoolMemory', `poolcsi cannot read the ${MEMORY_ANNOTATION} annotation: ${(e as Error).message}`);
        return;
      }
    }
    const text = cm.data?.[POOLS_KEY];
    if (text === undefined) {
      log.error({ origin }, `ConfigMap has no key ${POOLS_KEY}; pools unchanged`);
      return;
    }
    if (text === lastApplied) return;
    void applyPools(registry, text, origin, log, memory).then(async (ok) => {
      if (ok) { lastApplied = text; return; }
      void reportEvent(core, cm, log, 'InvalidPools', 'poolcsi refused this pools.yaml; see the driver log for each problem. The last good pools stay in force.');
      if (!registry.loaded) await startFromLastGood(cm);
    });
  };
  // A process that starts while pools.yaml is refused has no last good pools in memory: it takes
  // the ones the controller last applied, from the memory annotation (read here, never written
  // by a node), so "the last good pools stay in force" holds across restarts too.
  const startFromLastGood = async (cm: ConfigMap): Promise<void> => {
    let m: PoolMemory | undefined;
    try {
      m = (memory ?? new ConfigMapMemory(core, namespace, name)).fromObject(cm);
    } catch (e) {
      log.error({ origin, err: (e as Error).message }, 'no last good pools to start from');
      return;
    }
    await applyLastGood(registry, m, origin, `its ${MEMORY_ANNOTATION} annotation`, log, memory);
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
  return { stop: () => { void informer.stop(); }, ...(memory ? { memory } : {}) };
}

async function reportEvent(core: CoreApi, cm: ConfigMap, log: Logger, reason: string, message: string): Promise<void> {
  const ns = cm.metadata?.namespace ?? 'default';
  try {
    await core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { generateName: 'poolcsi-pools-' },
        involvedObject: { kind: 'ConfigMap', namespace: ns, name: cm.metadata?.name, uid: cm.metadata?.uid, apiVersion: 'v1' },
        reason,
        message,
        type: 'Warning',
        source: { component: 'poolcsi' },
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    });
  } catch (e) {
    log.warn({ err: (e as Error).message }, `could not record an Event (${reason})`);
  }
}
