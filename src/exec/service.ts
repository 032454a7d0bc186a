// A long-lived program that answers requests, one JSON document per line each way: for tools
// whose start costs more than their work (helpers/librbd-helper.py). Started as runner.ts runs
// programs: an argv array, no shell, secrets on stdin only. The first line it prints is its
// hello; every later line answers one request by its `id`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { logger } from '../observe/log.js';
import { execTotal } from '../observe/metrics.js';
import { checkArgv, programName } from './runner.js';

export type Json = Record<string, unknown>;

export interface ServiceOptions {
  env?: Record<string, string>;
  /** Written as the first line of stdin (a secret: never logged). */
  firstLine?: string;
  /** Deadline for the hello line. */
  helloMs: number;
}

export class ServiceExit extends Error {
  constructor(readonly program: string, readonly detail: string) {
    super(`${program} ${detail}`);
    this.name = 'ServiceExit';
  }
}

export class LineService {
  private readonly pending = new Map<number, (answer: Json | ServiceExit) => void>();
  private nextId = 1;
  private exited?: ServiceExit;
  private stderrTail = '';

  private constructor(readonly program: string, private readonly child: ChildProcess, readonly hello: Json) {}

  /** An idle service does not keep this process alive (a CLI command exits when it is done);
   * one with requests in flight does. */
  private hold(on: boolean): void {
    for (const h of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (on) h?.ref?.(); else h?.unref?.();
    }
  }

  /** Starts `program args` and waits for its hello; throws ServiceExit when it ends first. */
  static async start(program: string, args: readonly string[], opts: ServiceOptions): Promise<LineService> {
    checkArgv(program, args);
    execTotal.inc({ program: programName(program), where: 'local' });
    logger().debug({ program, args }, 'exec');
    const child = spawn(program, [...args], {
      shell: false,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin!.on('error', () => undefined);
    const lines = createInterface({ input: child.stdout! });
    let service: LineService | undefined;
    let tail = '';
    child.stderr!.on('data', (b: Buffer) => {
      tail = (tail + b.toString('utf8')).slice(-2000);
      if (service) service.stderrTail = tail;
    });
    const hello = await new Promise<Json>((resolve, reject) => {
      const fail = (detail: string) => reject(new ServiceExit(program, `${detail}${tail.trim() ? `: ${tail.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
      const timer = setTimeout(() => { child.kill('SIGKILL'); fail(`did not start within ${opts.helloMs} ms`); }, opts.helloMs);
      child.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); fail(e.code === 'ENOENT' ? 'is not installed (not found in PATH)' : `could not be started: ${e.message}`); });
      child.once('exit', (code, signal) => { clearTimeout(timer); fail(`exited before its hello (${signal ?? `code ${code}`})`); });
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as Json);
        } catch {
          child.kill('SIGKILL');
          fail(`said ${JSON.stringify(line.slice(0, 120))} instead of its hello`);
        }
      });
      if (opts.firstLine !== undefined) child.stdin!.write(`${opts.firstLine}\n`);
    });
    service = new LineService(program, child, hello);
    service.stderrTail = tail;
    service.hold(false);
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    lines.on('line', (line) => service!.answer(line));
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => service!.ended(`exited (${signal ?? `code ${code}`})`));
    return service;
  }

  get alive(): boolean { return this.exited === undefined; }
  get pid(): number | undefined { return this.child.pid; }
  get inflight(): number { return this.pending.size; }

  /**
   * Sends one request and waits for its answer. At the deadline the request is answered
   * ServiceExit "timed out" and the program is killed (what it ran may be stuck: as a program
   * run past its deadline is). An abort answers at once and leaves the program running.
   */
  request(body: Json, timeoutMs: number, signal?: AbortSignal): Promise<Json> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<Json>((resolve, reject) => {
      const settle = (a: Json | ServiceExit) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (this.pending.size === 0) this.hold(false);
        if (a instanceof ServiceExit) reject(a);
        else resolve(a);
      };
      const timer = setTimeout(() => {
        settle(new ServiceExit(this.program, `timed out after ${timeoutMs} ms`));
        this.kill();
      }, timeoutMs);
      const onAbort = () => settle(new ServiceExit(this.program, 'request abandoned (aborted)'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, settle);
      this.hold(true);
      this.child.stdin!.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  /** Closes its input: it finishes what runs, then exits. */
  close(): void { this.child.stdin!.end(); }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.ended('was killed');
  }

  private answer(line: string): void {
    let doc: Json;
    try {
      doc = JSON.parse(line) as Json;
    } catch {
      logger().warn({ program: this.program, line: line.slice(0, 200) }, 'unreadable line from a service');
      return;
    }
    const settle = typeof doc.id === 'number' ? this.pending.get(doc.id) : undefined;
    settle?.(doc);
  }

  private ended(detail: string): void {
    if (this.exited) return;
    const tail = this.stderrTail.trim().split('\n').slice(-2).join(' | ');
    this.exited = new ServiceExit(this.program, `${detail}${tail ? `: ${tail}` : ''}`);
    for (const settle of [...this.pending.values()]) settle(this.exited);
  }
}
