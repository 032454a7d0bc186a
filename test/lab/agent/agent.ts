// The lab agent: runs inside a UML node (started by test/lab/node/init.sh) and carries out
// the harness's requests from the spool directory. Node built-ins only, so it starts fast
// and depends on nothing but the compiled file.
//
// Usage: node agent.js <spoolDir>
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  READY_FILE,
  REQUEST_PREFIX,
  RESULT_PREFIX,
  type AgentReady,
  type AgentRequest,
  type AgentResult,
  type ExecRequest,
  type KillRequest,
  type SpawnRequest,
} from './protocol.js';

const POLL_MS = 20;
/** Output kept per stream; a runaway command must not exhaust the node's memory. */
const MAX_OUTPUT = 16 * 1024 * 1024;
/** After a command exits, how long its stdout/stderr may stay open (a daemon it started
 * may hold them); then the streams are dropped so the result is never held up. */
const DRAIN_MS = 2000;

const spool = process.argv[2];
if (!spool) {
  console.error('lab-agent: usage: agent.js <spoolDir>');
  process.exit(2);
}

/** Atomically publish a file in the spool: temp name, fsync (hostfs), rename. */
function publish(name: string, data: unknown): void {
  const tmp = join(spool!, `.${name}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(data));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(spool!, name));
}

function reply(result: AgentResult): void {
  publish(`${RESULT_PREFIX}${result.id}.json`, result);
}

function collect(stream: NodeJS.ReadableStream | null, into: Buffer[]): void {
  let size = 0;
  stream?.on('data', (chunk: Buffer) => {
    if (size >= MAX_OUTPUT) return;
    into.push(chunk);
    size += chunk.length;
  });
}

function runExec(req: ExecRequest): void {
  const started = Date.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let timedOut = false;
  let done = false;
  let child: ChildProcess;
  try {
    child = spawn(req.argv[0]!, req.argv.slice(1), {
      env: { ...process.env, ...req.env },
      cwd: req.cwd,
      // Own process group: a timeout ends the command and everything it started.
      detached: true,
      stdio: [req.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    reply({ kind: 'error', id: req.id, message: String(e) });
    return;
  }
  collect(child.stdout, out);
  collect(child.stderr, err);
  if (req.input !== undefined) child.stdin?.end(req.input);
  child.stdin?.on('error', () => {}); // the command may exit without reading its input

  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGKILL');
  }, req.timeoutMs);

  const finish = (code: number | null, signal: string | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    reply({
      kind: 'exec',
      id: req.id,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      code,
      signal,
      timedOut,
      durationMs: Date.now() - started,
    });
  };
  child.on('error', (e) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    reply({ kind: 'error', id: req.id, message: `${req.argv[0]}: ${e.message}` });
  });
  child.on('close', (code, signal) => finish(code, signal));
  child.on('exit', (code, signal) => {
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(code, signal);
    }, DRAIN_MS).unref();
  });
}

function runSpawn(req: SpawnRequest): void {
  let fd: number;
  try {
    fd = openSync(req.logFile, 'a');
  } catch (e) {
    reply({ kind: 'error', id: req.id, message: `cannot open ${req.logFile}: ${String(e)}` });
    return;
  }
  const child = spawn(req.argv[0]!, req.argv.slice(1), {
    env: { ...process.env, ...req.env },
    cwd: req.cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.on('spawn', () => reply({ kind: 'spawn', id: req.id, pid: child.pid! }));
  child.on('error', (e) => reply({ kind: 'error', id: req.id, message: `${req.argv[0]}: ${e.message}` }));
  // Tell the harness when a background process ends, so it can fail fast with its log.
  child.on('exit', (code, signal) => publish(`exited-${child.pid}.json`, { code, signal }));
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function runKill(req: KillRequest): void {
  reply({ kind: 'kill', id: req.id, delivered: killGroup(req.pid, req.signal) });
}

function handle(file: string): void {
  const path = join(spool!, file);
  let req: AgentRequest;
  try {
    req = JSON.parse(readFileSync(path, 'utf8')) as AgentRequest;
  } finally {
    unlinkSync(path);
  }
  switch (req.kind) {
    case 'exec':
      return runExec(req);
    case 'spawn':
      return runSpawn(req);
    case 'kill':
      return runKill(req);
  }
}

function poll(): void {
  try {
    for (const file of readdirSync(spool!)) {
      if (file.startsWith(REQUEST_PREFIX) && file.endsWith('.json')) {
        try {
          handle(file);
        } catch (e) {
          console.error(`lab-agent: ${file}: ${String(e)}`);
        }
      }
    }
  } catch (e) {
    console.error(`lab-agent: spool ${spool}: ${String(e)}`);
  }
  setTimeout(poll, POLL_MS);
}

const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const ready: AgentReady = { pid: process.pid, uptimeS };
publish(READY_FILE, ready);
console.log(`lab-agent: ready (kernel uptime ${uptimeS}s), spool ${spool}`);
poll();
