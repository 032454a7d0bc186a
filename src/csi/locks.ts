// Per-volume and per-name serialization. A second operation on a key that is held is
// refused at once (the CO retries), rather than queued behind a possibly long one.
export class KeyedLocks {
  private readonly held = new Set<string>();

  /** Takes all keys or none; returns a release function, or undefined when any key is held. */
  tryAcquire(keys: readonly string[]): (() => void) | undefined {
    const unique = [...new Set(keys)];
    if (unique.some((k) => this.held.has(k))) return undefined;
    for (const k of unique) this.held.add(k);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of unique) this.held.delete(k);
    };
  }

  isHeld(key: string): boolean { return this.held.has(key); }
  get size(): number { return this.held.size; }
}
