// Retired pools are forgotten only when confirmed empty: every node (or the shared backend)
// that may hold their volumes answered, with no volume and no snapshot. Until then they stay
// in the pool memory and keep serving their existing volumes. Checked after each load, after a
// delete in a retired pool, and every few minutes (a node that was down may be back).
import { traitsOf } from '../backends/index.js';
import type { Logger } from '../observe/log.js';
import type { PoolRegistry } from '../pools/registry.js';
import type { Router } from './router.js';

export const RECHECK_MS = 10 * 60_000;

export class RetiredPools {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private timer?: NodeJS.Timeout;

  /** `forget(id)` drops the pool from the registry and its durable memory. */
  constructor(private readonly registry: PoolRegistry, private readonly router: Router,
    private readonly forget: (id: string) => Promise<unknown>, private readonly log: Logger) {}

  /** Whether the retired pool holds nothing anywhere; undefined when that cannot be told now. */
  async empty(id: string): Promise<boolean | undefined> {
    const entry = this.registry.get(id);
    if (!entry?.retired || !this.registry.loaded) return undefined;
    try {
      for (const { backend } of this.router.everyCandidate(entry.pool)) {
        if ((await backend.listVolumes()).length) return false;
        if (traitsOf(entry.pool.type).snapshots && (await backend.listSnapshots()).length) return false;
      }
      return true;
    } catch (e) {
      this.log.info({ pool: id, error: (e as Error).message }, 'retired pool kept: cannot confirm that it is empty');
      return undefined;
    }
  }

  /** Checks one retired pool (coalesced: one check per pool at a time, one more queued). */
  check(id: string): Promise<void> {
    const busy = this.running.get(id);
    if (busy) { this.again.add(id); return busy; }
    const run = (async () => {
      try {
        if (await this.empty(id)) await this.forget(id);
      } catch (e) {
        this.log.warn({ pool: id, error: (e as Error).message }, 'could not forget an empty retired pool');
      } finally {
        this.running.delete(id);
        if (this.again.delete(id)) void this.check(id);
      }
    })();
    this.running.set(id, run);
    return run;
  }

  /** Checks every retired pool, once pools are loaded (until then restored pools all look retired). */
  checkAll(): Promise<void> {
    if (!this.registry.loaded) return Promise.resolve();
    return Promise.all(this.registry.listRetired().map((p) => this.check(p.id))).then(() => undefined);
  }

  /** Checks on every pools change and every RECHECK_MS. */
  start(): void {
    this.registry.on('change', () => { void this.checkAll(); });
    this.timer = setInterval(() => { void this.checkAll(); }, RECHECK_MS);
    this.timer.unref();
  }

  stop(): void { if (this.timer) clearInterval(this.timer); }
}
