// Reads repeated within one CSI call share one run. The controller looks a volume up, then the
// backend's own operation reads it again (and a name-clash check lists what the operation lists
// once more): each a process, a second or more on a loaded storage host. A call's scope keeps
// the answers of reads a backend marks as such until the call changes something; after a
// change, every read runs again. The scope ends with the call: nothing is cached across calls,
// so another controller's change is seen exactly as without the memo. Background work runs
// outside every scope (outsideCall).
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<Map<string, Promise<unknown>>>();

/** Runs one call's work with its own, empty memo. */
export function callScope<T>(fn: () => Promise<T>): Promise<T> {
  return scope.run(new Map(), fn);
}

/** Runs fn (and everything it starts) outside any call's memo: for work that outlives the call. */
export function outsideCall<T>(fn: () => T): T {
  return scope.exit(fn);
}

/**
 * The answer of `read` under `key`, shared with the same read earlier in this call while no
 * change came between. Callers get the same value: memoize raw output (strings), parse after.
 * A failed read is not kept.
 */
export function memoRead<T>(key: string, read: () => Promise<T>): Promise<T> {
  const m = scope.getStore();
  if (!m) return read();
  const hit = m.get(key) as Promise<T> | undefined;
  if (hit) return hit;
  const p = read();
  m.set(key, p);
  p.catch(() => { if (m.get(key) === p) m.delete(key); });
  return p;
}

/** A change: reads before it (and any that ran beside it) are forgotten once it starts and again when it ends. */
export async function change<T>(write: () => Promise<T>): Promise<T> {
  const m = scope.getStore();
  m?.clear();
  try {
    return await write();
  } finally {
    m?.clear();
  }
}
