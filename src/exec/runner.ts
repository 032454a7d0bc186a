// The one way poolcsi runs a program: an argv array, a timeout, a structured error.
// Never a shell, never a command string. Secrets go on stdin or in 0600 files, never in argv.
import { spawn } from 'node:child_process';
import { logger } from '../observe/log.js';
import { execTotal } from '../observe/metrics.js';
import { ExecError } from './errors.js';

export interface RunOptions {
  /** Deadline for the whole run; default 60 s. */
  timeoutMs?: number;
  /** Written to stdin (for secrets and payloads). */
  input?: string | Buffer;
  /** Extra environment for the child (merged over process.env). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Exit codes that count as success (default [0]). */
  okCodes?: readonly number[];
  /** Aborting it kills the program (a background job being cancelled). */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

/** Something that runs programs: this machine, or a storage host over SSH. */
export interface Runner {
  readonly host: string;
  run(program: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

const PROGRAM = /^(\/[A-Za-z0-9._+\/-]+|[A-Za-z0-9._+-]+)$/;

/** Refuses anything that is not a plain program name or absolute path, or args with NUL bytes. */
export function checkArgv(program: string, args: readonly string[]): void {
  if (!PROGRAM.test(program) || program.includes('..')) {
    throw new TypeError(`refusing to run program ${JSON.stringify(program)}: not a plain name or absolute path`);
  }
  for (const a of args) {
    if (typeof a !== 'string' || a.includes('\0')) {
      throw new TypeError(`refusing to run ${program}: argument ${JSON.stringify(a)} is not a clean string`);
    }
  }
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/** The metric label for a program: its base name (an absolute path's directories say nothing). */
export function programName(program: string): string {
  return program.slice(program.lastIndexOf('/') + 1);
}

/** Output kept per stream; a program printing more is cut off (its report would be useless anyway). */
const MAX_OUTPUT = 64 * 1024 * 1024;
/** After a timeout or an abort: SIGTERM first, SIGKILL when the program outlives this grace. */
const KILL_GRACE_MS = 5_000;

interface Outcome { exitCode: number | null; error?: NodeJS.ErrnoException; timedOut: boolean; aborted: boolean; stdout: string; stderr: string }

/**
 * child_process.spawn itself (no shell): a small wrapper costs less memory than a process
 * library, and every `serve` mode loads this module (issue 16's idle RSS).
 */
function spawnOnce(program: string, args: readonly string[], opts: RunOptions, timeout: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let aborted = false;
    let error: NodeJS.ErrnoException | undefined;
    let killer: NodeJS.Timeout | undefined;
    const child = spawn(program, [...args], {
      shell: false,
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killer.unref();
    };
    const timer = setTimeout(() => { timedOut = true; stop(); }, timeout);
    const onAbort = () => { aborted = true; stop(); };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (b: Buffer) => { if (outBytes < MAX_OUTPUT) { out.push(b); outBytes += b.length; } });
    child.stderr!.on('data', (b: Buffer) => { if (errBytes < MAX_OUTPUT) { err.push(b); errBytes += b.length; } });
    child.on('error', (e) => { error = e; });
    if (opts.input !== undefined) {
      // A program that exits without reading its input closes the pipe: not our failure.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    let done = false;
    const finish = (exitCode: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode, timedOut, aborted, ...(error ? { error } : {}),
        stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    // 'close' comes after the streams are drained (and after 'error' when the spawn failed).
    child.on('close', finish);
    // A killed program's children may hold its pipes open: its own end is the end.
    child.on('exit', (exitCode) => {
      if (!timedOut && !aborted) return;
      child.stdout!.destroy();
      child.stderr!.destroy();
      finish(exitCode);
    });
  });
}

class LocalRunner implements Runner {
  readonly host = 'localhost';

  async run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    checkArgv(program, args);
    execTotal.inc({ program: programName(program), where: 'local' });
    const started = performance.now();
    const r = await spawnOnce(program, args, opts, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const durationMs = Math.round(performance.now() - started);
    const { stdout, stderr } = r;
    const exitCode = r.exitCode ?? -1;
    logger().debug({ program, args, exitCode, durationMs }, 'exec');
    if (r.timedOut) throw new ExecError(program, args, undefined, stderr, stdout, 'timeout');
    if (r.aborted) throw new ExecError(program, args, undefined, stderr, stdout, 'signal');
    if (r.error?.code === 'ENOENT') throw new ExecError(program, args, undefined, stderr, stdout, 'not-found');
    if (r.error) throw new ExecError(program, args, undefined, stderr || r.error.message, stdout, 'spawn');
    if (r.exitCode === null) throw new ExecError(program, args, undefined, stderr, stdout, 'signal');
    if (!(opts.okCodes ?? [0]).includes(exitCode)) {
      throw new ExecError(program, args, exitCode, stderr, stdout, 'exit');
    }
    return { stdout, stderr, exitCode, durationMs };
  }
}

export const local: Runner = new LocalRunner();
