// The controller's own mount of an nfs pool's export, through which it makes, lists and
// removes volume directories (no server agent). Cached: a mount that answered a probe less
// than PROBE_TTL ago is used as is. Bounded: the mount is `soft` with timeo/retrans derived
// from the pool's timeoutSeconds (a dead server fails an operation instead of blocking a
// thread forever), probes are `stat` in a child process with a deadline, and every operation
// is raced against the timeout, so a call answers UNAVAILABLE within the pool's timeout.
import { mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ExecError, type Runner } from '../../exec/index.js';
import { mountAt, readMounts } from '../../sys/mountinfo.js';
import { unmountStubborn } from '../../node/mount.js';
import { nfsSource, probeNfs, sameSource } from '../../node/transports/nfs.js';
import { StorageError, unavailable } from '../errors.js';

// A mount that answered (a probe or any operation) this recently is used without a probe.
const PROBE_TTL_MS = 10_000;
/** Options the controller's mount decides itself, whatever the pool says. */
const OWN = /^(hard|soft|softerr|timeo|retrans|ro|rw|retry)(=|$)/;

export interface ExportMountSpec {
  poolId: string;
  server: string;
  export: string;
  options: readonly string[];
  timeoutSeconds: number;
  mountRoot: string;
}

/** soft + timeo/retrans so that the kernel gives up within about `timeoutSeconds`. */
export function controllerMountOptions(options: readonly string[], timeoutSeconds: number): string[] {
  // A soft TCP mount fails after (retrans + 1) tries with a linearly growing timeout:
  // timeo + 2·timeo ≈ 3·timeo with retrans=1. timeo is in tenths of a second.
  const timeo = Math.max(10, Math.floor((timeoutSeconds * 10) / 3));
  return [...options.filter((o) => !OWN.test(o)), 'soft', `timeo=${timeo}`, 'retrans=1', 'retry=0'];
}

export class ExportMount {
  private checkedAt = 0;
  private pending?: Promise<string>;
  /** Operations answered UNAVAILABLE at their deadline and still running, by key: what they do. */
  private readonly lingering = new Map<string, string>();
  readonly mountPoint: string;
  readonly timeoutMs: number;

  constructor(private readonly runner: Runner, private readonly spec: ExportMountSpec) {
    this.timeoutMs = spec.timeoutSeconds * 1000;
    const id = createHash('sha256').update(`${spec.poolId}\0${nfsSource(spec)}`).digest('hex').slice(0, 32);
    this.mountPoint = join(spec.mountRoot, id);
  }

  private where(): string { return `pool "${this.spec.poolId}" (${nfsSource(this.spec)})`; }

  /** The export's root on this machine, mounted and answering; UNAVAILABLE otherwise. */
  async root(): Promise<string> {
    if (Date.now() - this.checkedAt < PROBE_TTL_MS) return this.mountPoint;
    this.pending ??= this.ensure().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  private async ensure(): Promise<string> {
    const m = mountAt(await readMounts(), this.mountPoint);
    if (m && m.fsType.startsWith('nfs') && sameSource(m.source, this.spec)) {
      const c = await probeNfs(this.runner, this.mountPoint, this.timeoutMs);
      if (!c.abnormal) {
        this.checkedAt = Date.now();
        return this.mountPoint;
      }
      if (!/stale/i.test(c.message)) throw unavailable(`${this.where()}: ${c.message}`);
      // The export was re-created on the server: a fresh mount gets fresh handles.
    }
    if (m) await unmountStubborn(this.runner, this.mountPoint, this.timeoutMs).catch(() => undefined);
    await mkdir(this.mountPoint, { recursive: true, mode: 0o700 });
    const options = controllerMountOptions(this.spec.options, this.spec.timeoutSeconds);
    try {
      await this.runner.run('mount', ['-t', 'nfs', '-o', options.join(','), '--', nfsSource(this.spec), this.mountPoint], { timeoutMs: this.timeoutMs });
    } catch (e) {
      // A mount killed at its deadline may still land later: take it down again.
      await unmountStubborn(this.runner, this.mountPoint, this.timeoutMs).catch(() => undefined);
      if (e instanceof ExecError) {
        const why = e.reason === 'timeout' ? `no answer within ${this.spec.timeoutSeconds} s` : (e.stderr.trim() || e.message);
        if (e.reason === 'not-found') throw new StorageError('internal', `mounting ${this.where()} needs mount.nfs (nfs-common / nfs-utils): ${e.message}`);
        throw unavailable(`${this.where()}: cannot mount the export: ${why}`, e);
      }
      throw e;
    }
    this.checkedAt = Date.now();
    return this.mountPoint;
  }

  /**
   * Runs one filesystem operation on the export, mounting or probing it first, all under one
   * deadline: a server that stops answering is UNAVAILABLE within the pool's timeout.
   *
   * Filesystem calls cannot be cancelled: an operation past its deadline goes on in the
   * background and may finish when the server answers again. `key` names what it changes (a
   * volume, a snapshot); until such an operation has settled, another one with the same key is
   * refused as busy (ABORTED, the CO retries), so a retry never runs beside it (a copy still
   * writing into the clone a retry has since completed, a delete racing a create).
   */
  async bounded<T>(what: string, op: (root: string) => Promise<T>, timeoutMs = this.timeoutMs, key?: string): Promise<T> {
    const earlier = key === undefined ? undefined : this.lingering.get(key);
    if (earlier) {
      throw new StorageError('busy', `${this.where()}: ${earlier} of ${key} timed out earlier and is still running on the export; retry once it has finished`);
    }
    const work = (async () => {
      const root = await this.root();
      const result = await op(root).catch((e: unknown) => { throw this.mapError(what, e); });
      this.checkedAt = Date.now(); // the server just answered
      return result;
    })();
    // The loser of the race must not become an unhandled rejection.
    const settled = work.then(() => undefined, () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.checkedAt = 0;
        if (key !== undefined) {
          this.lingering.set(key, what);
          void settled.then(() => this.lingering.delete(key));
        }
        reject(unavailable(`${this.where()}: ${what} did not finish within ${Math.round(timeoutMs / 1000)} s; the NFS server is not answering`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A soft mount's timeouts come back as EIO/ETIMEDOUT: the server, not the request, failed. */
  private mapError(what: string, e: unknown): unknown {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EIO' || code === 'ETIMEDOUT' || code === 'ESTALE' || code === 'ENOTCONN') {
      this.checkedAt = 0;
      return unavailable(`${this.where()}: ${what}: ${(e as Error).message}`, e);
    }
    return e;
  }
}
