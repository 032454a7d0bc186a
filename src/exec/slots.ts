// A counting semaphore for program runs: at most `size` at once, the others wait in order of
// arrival. A waiter gives up at its deadline or when its signal aborts (a queued command keeps
// the deadline it was given: the wait counts against it).
export type Release = () => void;

export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError('size must be a whole number of at least 1');
  }

  /** Holders of a slot, and waiters for one. */
  get stats(): { active: number; queued: number } { return { active: this.active, queued: this.waiting.length }; }

  /** A slot's release (calling it again does nothing), or undefined when `timeoutMs` passed or
   * `signal` aborted before a slot came free. */
  take(timeoutMs: number, signal?: AbortSignal): Promise<Release | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined);
    if (this.active < this.size) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const settle = (r: Release | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(r);
      };
      // A freed slot passes straight to the next waiter (`active` stays counted).
      const go = () => settle(this.releaser());
      const giveUp = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        settle(undefined);
      };
      const timer = setTimeout(giveUp, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(go);
    });
  }

  private releaser(): Release {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      if (next) next(); else this.active--;
    };
  }
}
