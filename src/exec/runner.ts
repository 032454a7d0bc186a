// The one way poolcsi runs a program: an argv array, a timeout, a structured error.
// Never a shell, never a command string. Secrets go on stdin or in 0600 files, never in argv.
import { execa } from 'execa';
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

class LocalRunner implements Runner {
  readonly host = 'localhost';

  async run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    checkArgv(program, args);
    execTotal.inc({ program: programName(program), where: 'local' });
    const started = performance.now();
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const r = await execa(program, [...args], {
      reject: false,
      shell: false,
      timeout,
      input: opts.input,
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
      env: opts.env,
      extendEnv: true,
      cwd: opts.cwd,
      stripFinalNewline: false,
      maxBuffer: 64 * 1024 * 1024,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    });
    const durationMs = Math.round(performance.now() - started);
    const stdout = String(r.stdout ?? '');
    const stderr = String(r.stderr ?? '');
    const exitCode = typeof r.exitCode === 'number' ? r.exitCode : -1;
    logger().debug({ program, args, exitCode, durationMs }, 'exec');
    const code = (r as { code?: string }).code;
    if (r.timedOut) throw new ExecError(program, args, undefined, stderr, stdout, 'timeout');
    if (r.isCanceled) throw new ExecError(program, args, undefined, stderr, stdout, 'signal');
    if (code === 'ENOENT') throw new ExecError(program, args, undefined, stderr, stdout, 'not-found');
    if (r.failed && r.exitCode === undefined) {
      throw new ExecError(program, args, undefined, stderr || String(r.message ?? ''), stdout, r.signal ? 'signal' : 'spawn');
    }
    if (!(opts.okCodes ?? [0]).includes(exitCode)) {
      throw new ExecError(program, args, exitCode, stderr, stdout, 'exit');
    }
    return { stdout, stderr, exitCode, durationMs };
  }
}

export const local: Runner = new LocalRunner();
