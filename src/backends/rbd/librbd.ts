// The librbd helper (helpers/librbd-helper.py): one long-lived python3 process per cluster, user
// and key, holding one cluster connection, that runs the `rbd` commands the controller uses
// most and answers what `rbd ... --format json` prints (so report.ts parses both alike). An
// `rbd` process costs a start, librados' start and a monitor session: 1.2 s per command in
// the lab node, where the helper answers an info in about 50 ms. Commands it does not take
// (flatten, device commands) run as `rbd`. Failures come back as `rbd`'s would: the errno as
// the exit code, so errors.ts judges both alike; reachability.ts sees the same outcomes.
//
// Without python3-rbd (ceph-common depends on it), or with POOLCSI_RBD_HELPER=off, every
// command runs as `rbd`. The helper exits after IDLE_MS without requests; a helper that dies
// is started again by the next command.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ExecError, local, type Runner } from '../../exec/index.js';
import { LineService, ServiceExit } from '../../exec/service.js';
import { logger } from '../../observe/log.js';
import { packageFile } from '../../sys/package.js';
import { CEPH_ENV, monOpSeconds, osdOpSeconds } from './connection.js';

export interface HelperConnection {
  monhost: string[];
  user: string;
  keyfile: string;
  timeoutSeconds: number;
}

const IDLE_MS = 5 * 60_000;
/** python3's start and the librados import: about 1.4 s in the lab node, more under load. */
const START_ALLOWANCE_MS = 15_000;

let off: string | undefined = process.env.POOLCSI_RBD_HELPER === 'off' ? 'POOLCSI_RBD_HELPER=off' : undefined;

interface Entry { service: Promise<LineService>; idle?: NodeJS.Timeout }
const helpers = new Map<string, Entry>();

/** Turns the helper off for this process (it cannot run here), saying why once. */
function disable(why: string): undefined {
  if (!off) logger().warn({ why }, 'the librbd helper cannot run here: rbd commands run as rbd processes');
  off = why;
  return undefined;
}

async function start(conn: HelperConnection, key: string, helloMs: number): Promise<LineService> {
  const service = await LineService.start('python3', [
    packageFile('helpers', 'librbd-helper.py'),
    '--mon-host', conn.monhost.join(','),
    '--id', conn.user,
    '--client-mount-timeout', String(conn.timeoutSeconds),
    '--rados-mon-op-timeout', String(monOpSeconds(conn.timeoutSeconds)),
    '--rados-osd-op-timeout', String(osdOpSeconds(conn.timeoutSeconds)),
  ], { env: CEPH_ENV, firstLine: JSON.stringify({ key }), helloMs });
  if (service.hello.ready === true) return service;
  service.kill();
  if (service.hello.missing === true) throw new Missing(String(service.hello.err ?? 'python3-rbd is missing'));
  const errno = typeof service.hello.errno === 'number' ? service.hello.errno : 5;
  throw new ExecError('rbd', ['(librbd helper: connect)'], errno, String(service.hello.err ?? ''), '', 'exit');
}

class Missing extends Error {}

interface Found { service: LineService; entry: Entry; id: string }

async function helperFor(conn: HelperConnection, timeoutMs: number): Promise<Found | undefined> {
  if (off) return undefined;
  const key = (await readFile(conn.keyfile, 'utf8')).trim();
  const id = [[...conn.monhost].sort().join(','), conn.user, conn.timeoutSeconds, createHash('sha256').update(key).digest('hex')].join('\0');
  let entry = helpers.get(id);
  if (!entry) {
    const service = start(conn, key, Math.min(timeoutMs, conn.timeoutSeconds * 1000 + START_ALLOWANCE_MS));
    entry = { service };
    helpers.set(id, entry);
    // A failed start is not kept: the next command tries again.
    service.catch(() => { if (helpers.get(id) === entry) helpers.delete(id); });
  }
  if (entry.idle) clearTimeout(entry.idle);
  entry.idle = undefined;
  let service: LineService;
  try {
    service = await entry.service;
  } catch (e) {
    if (e instanceof Missing) return disable(e.message);
    if (e instanceof ServiceExit && /not installed|could not be started|exited before/.test(e.message)) return disable(e.message);
    if (e instanceof ServiceExit) throw new ExecError('rbd', ['(librbd helper: start)'], undefined, e.message, '', 'timeout');
    throw e;
  }
  if (!service.alive) {
    if (helpers.get(id) === entry) helpers.delete(id);
    return helperFor(conn, timeoutMs);
  }
  return { service, entry, id };
}

/** Commands that change nothing: run again as `rbd` when the helper died under them. */
function readOnly(program: string, args: readonly string[]): boolean {
  const [a, b] = args;
  if (program === 'ceph') return a === 'df';
  return a === 'info' || a === 'ls' || (b === 'ls' && (a === 'snap' || a === 'trash')) || (a === 'image-meta' && b === 'list');
}

/** Closes a helper that stays without requests for IDLE_MS. */
function idleLater(h: Found): void {
  if (h.service.inflight > 0 || h.entry.idle) return;
  h.entry.idle = setTimeout(() => {
    if (helpers.get(h.id) === h.entry && h.service.inflight === 0) {
      helpers.delete(h.id);
      h.service.close();
    }
  }, IDLE_MS);
  h.entry.idle.unref();
}

/**
 * Runs `program args` (program `rbd` or `ceph`) through the helper. Undefined when the helper
 * does not take this command or cannot run here: the caller runs the program instead. Throws
 * ExecError as a run of the program would.
 */
export async function viaHelper(runner: Runner, conn: HelperConnection, program: string, args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  // Only where the `rbd` runs would run: the controller's own machine.
  if (off || runner !== local) return undefined;
  const started = performance.now();
  const found = await helperFor(conn, timeoutMs);
  if (!found) return undefined;
  const { service } = found;
  let answer: Record<string, unknown>;
  try {
    answer = await service.request({ program, argv: args }, Math.max(1, timeoutMs - (performance.now() - started)), signal);
  } catch (e) {
    if (!(e instanceof ServiceExit)) throw e;
    const reason = /timed out/.test(e.message) ? 'timeout' : /abandoned/.test(e.message) ? 'signal' : 'spawn';
    // The helper died under this command (not a deadline, not the caller's abort): a reading
    // runs as `rbd`, so the call still answers; a change answers UNAVAILABLE and the CO's
    // retry (idempotent) starts a new helper.
    if (reason === 'spawn' && readOnly(program, args)) {
      logger().warn({ program, args, error: e.message }, 'the librbd helper died during a command: running it as rbd');
      return undefined;
    }
    throw new ExecError(program, args, undefined, e.message, '', reason);
  } finally {
    idleLater(found);
  }
  const durationMs = Math.round(performance.now() - started);
  if (answer.unsupported === true) return undefined;
  const exitCode = typeof answer.errno === 'number' ? answer.errno : 0;
  logger().debug({ program, args, exitCode, durationMs }, 'librbd');
  if (exitCode !== 0) throw new ExecError(program, args, exitCode, String(answer.err ?? ''), '', 'exit');
  return typeof answer.out === 'string' ? answer.out : '';
}
