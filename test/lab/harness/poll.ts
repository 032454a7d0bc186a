// Waiting without fixed sleeps: poll a probe until it yields a value or the deadline passes.
export interface PollOptions {
  timeoutMs: number;
  /** What is awaited, for the timeout message. */
  what: string;
  intervalMs?: number;
}

export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

export async function pollUntil<T>(probe: () => T | undefined | Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 20;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new DeadlineError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
  }
}

/** The same, for exit handlers, where the event loop no longer runs. */
export function pollUntilSync(probe: () => boolean, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!probe()) {
    if (Date.now() >= deadline) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
  return true;
}
