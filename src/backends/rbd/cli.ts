// Running `rbd` and `ceph` against one pool with one set of credentials. Every run gets the
// monitors (-m), the user (--id) and a key file (--keyfile), no ceph.conf (--conf /dev/null:
// the pool definition is the whole configuration) and bounded waits, so that an unreachable
// cluster fails in timeoutSeconds instead of hanging. Only a few run at once per cluster
// (slots.ts); the others wait for a slot within their own deadline.
import { change, ExecError, memoRead, type Runner } from '../../exec/index.js';
import type { Release } from '../../exec/slots.js';
import type { RbdPool } from '../../pools/schema.js';
import { StorageError } from '../errors.js';
import { cephError, type Target } from './errors.js';
import { CEPH_ENV, monOpSeconds, osdOpSeconds } from './connection.js';
import { viaHelper } from './librbd.js';
import { reachabilityOf } from './reachability.js';
import { MAX_CLUSTER_COMMANDS, NotStarted, slotsOf } from './slots.js';

export interface Connection {
  monhost: string[];
  user: string;
  /** A file holding only the key (see credentials.ts); never the key itself. */
  keyfile: string;
  timeoutSeconds: number;
}

/** Arguments every `rbd` / `ceph` run starts with. */
export function connectionArgs(c: Connection): string[] {
  const t = c.timeoutSeconds;
  return [
    '--conf', '/dev/null',
    '-m', c.monhost.join(','),
    '--id', c.user,
    '--keyfile', c.keyfile,
    // Monitor session (authentication included), then each monitor and OSD request.
    '--client-mount-timeout', String(t),
    '--rados-mon-op-timeout', String(monOpSeconds(t)),
    '--rados-osd-op-timeout', String(osdOpSeconds(t)),
  ];
}

export { CEPH_ENV };

export interface RunOpts { timeoutMs?: number; signal?: AbortSignal; input?: string }

export class CephCli {
  readonly target: Target;

  constructor(private readonly runner: Runner, readonly pool: RbdPool, readonly conn: Connection) {
    this.target = { pool: pool.pool, poolId: pool.id, user: conn.user, monhost: conn.monhost, timeoutSeconds: conn.timeoutSeconds };
  }

  /** Deadline for a quick command: the mon timeout, then some room for the work itself. */
  get quickMs(): number { return (3 * this.conn.timeoutSeconds + 20) * 1000; }

  /** `rbd <args>` that changes something; returns stdout. Failures are StorageErrors (errors.ts). */
  rbd(args: string[], opts: RunOpts = {}): Promise<string> {
    return change(() => this.exec('rbd', args, opts));
  }

  /** `rbd <args>` that only reads: a repeat within the same CSI call (and no change between)
   * shares the first run's output (exec/memo.ts). */
  read(args: string[], opts: RunOpts = {}): Promise<string> {
    const key = ['rbd', this.runner.host, this.conn.monhost.join(','), this.conn.user, ...args].join('\0');
    return memoRead(key, () => this.exec('rbd', args, opts));
  }

  async ceph(args: string[], opts: RunOpts = {}): Promise<string> {
    // While the cluster is away, the call that tries it again does so with `rbd` (or the
    // helper, which takes `ceph df` too): Python's `ceph` starts a second or more later, past
    // the pool's timeout on a small node. Any other answer than "unreachable" ends the outage,
    // and `ceph` runs.
    if (reachabilityOf(this.conn.monhost).isDown) {
      await this.exec('rbd', ['ls', this.pool.pool], opts).catch((e: unknown) => {
        if (e instanceof StorageError && e.kind === 'unavailable') throw e;
      });
    }
    return this.exec('ceph', ['--connect-timeout', String(this.conn.timeoutSeconds), ...args], opts);
  }

  /** How long a command holds its slot (slots.ts): by then it has connected or failed to, so it
   * no longer costs a start nor tells about the monitors; holding it longer would queue quick
   * reads behind an hours-long rm or flatten. */
  get holdMs(): number { return 2 * this.conn.timeoutSeconds * 1000; }

  private async exec(program: string, args: string[], opts: RunOpts): Promise<string> {
    const argv = [...connectionArgs(this.conn), ...args];
    const what = `${program} ${args.filter((a) => !a.startsWith('--format') && a !== 'json').slice(0, 3).join(' ')}`;
    const timeoutMs = opts.timeoutMs ?? this.quickMs;
    const started = Date.now();
    const slot: { release?: Release } = {};
    try {
      return await reachabilityOf(this.conn.monhost).run(async (unreachable) => {
        const signal = opts.signal ? AbortSignal.any([opts.signal, unreachable]) : unreachable;
        // The helper first: no process to start, so no slot either.
        const helped = await viaHelper(this.runner, this.conn, program, args, timeoutMs, signal)
          .catch((e: unknown) => { throw cephError(e, what, this.target); });
        if (helped !== undefined) return helped;
        slot.release = await slotsOf(this.conn.monhost).take(timeoutMs, signal);
        if (!slot.release) {
          // Stopped while queued (the cluster found away, or the caller's signal): as if killed.
          if (signal.aborted) throw cephError(new ExecError(program, argv, undefined, '', '', 'signal'), what, this.target);
          throw new NotStarted(`${what}: not started within ${Math.round(timeoutMs / 1000)} s: ${MAX_CLUSTER_COMMANDS} rbd/ceph commands against Ceph monitors ${this.conn.monhost.join(',')} were running (pool "${this.pool.id}")`);
        }
        const hold = setTimeout(slot.release, this.holdMs);
        try {
          const r = await this.runner.run(program, argv, {
            // The wait for the slot counts against the command's deadline.
            timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
            env: CEPH_ENV,
            signal,
            ...(opts.input !== undefined ? { input: opts.input } : {}),
          });
          return r.stdout;
        } catch (e) {
          throw cephError(e, what, this.target);
        } finally {
          clearTimeout(hold);
        }
      });
    } finally {
      // Only once reachability.ts has judged this command's failure: when it found the monitors
      // away, it has stopped the queued commands, so the slot does not start one of them.
      slot.release?.();
    }
  }
}
