// The driver as an OS process the harness owns: started, SIGKILLed, restarted. Runs wherever the
// harness runs (the host for dir, inside a lab node for lvm/rbd), so the socket is local.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../../src/exec/wait.js';
import { CsiClient } from './csi.js';

export const DRIVER_MAIN = fileURLToPath(new URL('../../../src/cli/main.cjs', import.meta.url));

export interface ProcOptions {
  socket: string;
  poolsFile: string;
  nodeId: string;
  logFile: string;
  mode?: 'all' | 'controller' | 'node';
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export class DriverProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** Exits the harness did not cause (a crash), with their code/signal. */
  readonly crashes: string[] = [];
  kills = 0;
  starts = 0;
  private expectingExit = false;

  constructor(readonly o: ProcOptions, readonly client: CsiClient = new CsiClient(o.socket)) {}

  get pid(): number | undefined { return this.child?.pid; }
  get running(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  async start(): Promise<void> {
    mkdirSync(dirname(this.o.socket), { recursive: true });
    // A socket left by a killed driver would look ready before the new one listens.
    rmSync(this.o.socket, { force: true });
    const fd = openSync(this.o.logFile, 'a');
    const child = spawn(process.execPath, [DRIVER_MAIN, 'serve', '--mode', this.o.mode ?? 'all', '--endpoint', `unix://${this.o.socket}`,
      '--node-id', this.o.nodeId, '--pools-file', this.o.poolsFile, '--log-level', 'debug',
      // The pool memory belongs to this run (kept across its kills), never the host's /var/lib/poolcsi.
      '--state-dir', `${this.o.socket}.state`, ...(this.o.args ?? [])],
    { stdio: ['ignore', fd, fd], env: { ...process.env, ...this.o.env } });
    closeSync(fd);
    this.child = child;
    this.expectingExit = false;
    this.starts++;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.crashes.push(`pid ${child.pid} exited by itself: ${signal ?? `code ${code}`}`);
      resolve();
    }));
    this.client.reset();
    await waitFor(async () => {
      if (!this.running) throw new Error(`the driver exited during start (log ${this.o.logFile})`);
      if (!existsSync(this.o.socket)) return undefined;
      const r = await this.client.call('Identity.Probe', {}, 2_000);
      return r.ok ? true : undefined;
    }, { timeoutMs: 180_000, what: `the driver on ${this.o.socket}`, maxIntervalMs: 100 });
  }

  /** SIGKILL, as the OOM killer or a node reboot would. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    this.kills++;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async stop(): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
    this.client.close();
  }
}
