// Background `rbd flatten` for clones past the pool's depth limit. The debt is recorded on the
// image first (FLATTEN_KEY), so a flatten cut short by a restart is found again: the first
// controller call with credentials after a start (or after a failed flatten) scans the pool's
// clones for the marker and resumes them. Deleting a volume cancels its flatten.
import { outsideCall } from '../../exec/index.js';
import { logger } from '../../observe/log.js';
import type { Cephx } from './credentials.js';
import type { Images } from './images.js';
import type { ParentRef } from './report.js';
import { FLATTEN_KEY } from './state.js';

export interface FlattenHost {
  poolId: string;
  /** Runs fn with a fresh Images session on these credentials (its own key file). */
  open<T>(cred: Cephx, fn: (img: Images) => Promise<T>): Promise<T>;
  /** After a flatten: the old parent may now be purgeable (trash). */
  afterFlatten(img: Images, oldParent: ParentRef): Promise<void>;
}

interface Job { abort: AbortController; done: Promise<void> }

export class Flattener {
  private readonly jobs = new Map<string, Job>();
  private scanned = false;

  constructor(private readonly host: FlattenHost) {}

  isRunning(name: string): boolean { return this.jobs.has(name); }

  /** Records the debt on the image, then flattens in the background. */
  async schedule(img: Images, name: string, cred: Cephx): Promise<void> {
    await img.setMeta(name, FLATTEN_KEY, 'pending');
    this.start(name, cred);
  }

  /** Stops a running flatten of `name` and waits until its rbd process is gone. */
  async cancel(name: string): Promise<void> {
    const job = this.jobs.get(name);
    if (!job) return;
    job.abort.abort();
    await job.done;
  }

  /** All running flattens settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.jobs.size) await Promise.all([...this.jobs.values()].map((j) => j.done));
  }

  /** Once per process (and again after a failure): resume flattens owed by earlier runs. */
  resume(cred: Cephx): void {
    if (this.scanned) return;
    this.scanned = true;
    const log = logger().child({ pool: this.host.poolId });
    // Its own session (key file): the caller's ends before this scan does.
    void outsideCall(() => this.host.open(cred, async (img) => {
      const clones = (await img.list()).filter((e) => e.parent && e.snapshot === undefined);
      for (const c of clones) {
        if (this.jobs.has(c.image)) continue;
        const meta = await img.meta(c.image);
        if (meta?.[FLATTEN_KEY]) {
          log.info({ image: c.image }, 'resuming a flatten left unfinished');
          this.start(c.image, cred);
        }
      }
    })).catch((e: unknown) => {
      this.scanned = false;
      log.warn({ error: (e as Error).message }, 'could not scan for unfinished flattens; will retry on a later call');
    });
  }

  private start(name: string, cred: Cephx): void {
    if (this.jobs.has(name)) return;
    const log = logger().child({ pool: this.host.poolId, image: name });
    const abort = new AbortController();
    const started = Date.now();
    // Outlives the call that scheduled it: outside that call's read memo.
    const done = outsideCall(() => this.host.open(cred, async (img) => {
      const info = await img.info(name);
      if (!info) return;
      if (info.parent) {
        log.info({ parent: `${info.parent.image}@${info.parent.snapshot}` }, 'flattening clone');
        await img.flatten(name, { signal: abort.signal });
      }
      await img.removeMeta(name, FLATTEN_KEY);
      log.info({ ms: Date.now() - started }, 'flatten done');
      if (info.parent) await this.host.afterFlatten(img, info.parent);
    })).catch((e: unknown) => {
      if (abort.signal.aborted) {
        log.info('flatten cancelled');
        return;
      }
      // The marker stays: the next call with credentials scans again and retries.
      this.scanned = false;
      log.warn({ error: (e as Error).message }, 'flatten failed; it will be retried');
    }).finally(() => { this.jobs.delete(name); });
    this.jobs.set(name, { abort, done });
  }
}
