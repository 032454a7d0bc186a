// Whether a Ceph cluster's monitors answer, as this process last saw it. Without it, every call
// while the monitors are away starts its own `rbd`/`ceph` process and waits out the connect
// timeout; six calls at once then also share one CPU with six process starts, and answer long
// after the pool's timeoutSeconds (slots.ts bounds the processes that start at once). With it:
// - the first command that finds the cluster unreachable answers for the others in flight
//   (they are stopped and get the same UNAVAILABLE);
// - while it is unreachable, one call at a time tries the cluster again, the others get
//   UNAVAILABLE at once, without a process; the first command that gets any answer from the
//   cluster (success or a failure of its own, e.g. "no such image") ends the outage.
// No timer: a cluster nobody calls is not probed.
import { StorageError } from '../errors.js';
import { NotStarted } from './slots.js';

/** A command that never started (it waited out its deadline for a slot) tells nothing. */
const isUnreachable = (e: unknown) => e instanceof StorageError && e.kind === 'unavailable' && !(e instanceof NotStarted);

export class Reachability {
  private down?: { error: StorageError; at: number };
  private probing = false;
  private readonly inflight = new Set<AbortController>();

  /** Runs one cluster command; `fn` must stop when the signal aborts. */
  async run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.down) {
      if (this.probing) {
        const ago = Math.round((Date.now() - this.down.at) / 1000);
        throw new StorageError('unavailable', `${this.down.error.message} (found unreachable ${ago} s ago; one call at a time tries again)`, { cause: this.down.error });
      }
      this.probing = true;
      try {
        const r = await fn(new AbortController().signal);
        this.down = undefined;
        return r;
      } catch (e) {
        if (isUnreachable(e)) this.down = { error: e as StorageError, at: Date.now() };
        else if (!(e instanceof NotStarted)) this.down = undefined;
        throw e;
      } finally {
        this.probing = false;
      }
    }
    const ac = new AbortController();
    this.inflight.add(ac);
    try {
      return await fn(ac.signal);
    } catch (e) {
      // Stopped because another command found the cluster unreachable: its answer is ours.
      const down = this.outage();
      if (ac.signal.aborted && down) throw down.error;
      if (isUnreachable(e)) {
        this.down = { error: e as StorageError, at: Date.now() };
        for (const other of this.inflight) if (other !== ac) other.abort();
      }
      throw e;
    } finally {
      this.inflight.delete(ac);
    }
  }

  private outage(): { error: StorageError; at: number } | undefined { return this.down; }

  /** Whether the last word on the cluster is that it is unreachable. */
  get isDown(): boolean { return this.down !== undefined; }
}

const clusters = new Map<string, Reachability>();

/** The one Reachability of the cluster at these monitors (every pool and user of it). */
export function reachabilityOf(monhost: readonly string[]): Reachability {
  const key = [...monhost].sort().join(',');
  let r = clusters.get(key);
  if (!r) clusters.set(key, (r = new Reachability()));
  return r;
}
