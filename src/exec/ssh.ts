// The Runner for a storage host over SSH (ssh2), behind the same interface as the local one:
//
//   const r = new SshRunner({ host: '10.0.0.5', privateKey: () => readKey(), hostKey: 'ssh-ed25519 AAAA...' });
//   await r.run('lvs', ['--reportformat', 'json'], { timeoutMs: 30_000, input: secret });
//   await r.close();
//
// - One connection per runner, opened on the first call, reused by every later call, opened
//   again after it drops. Callers that want one connection per host share the runner
//   (backends/ssh.ts keeps one per target).
// - The host key is pinned: `hostKey` is an OpenSSH public key line ("ssh-ed25519 AAAA...") or
//   its SHA256 fingerprint ("SHA256:..."). Any other key fails the call before authentication,
//   naming both fingerprints; there is no trust-on-first-use.
// - The remote side gets one command line,
//   `exec timeout -s KILL <deadline+1s> env 'NAME=value' 'program' 'arg'...`, every word
//   single-quoted for a POSIX shell (the user's login shell must be one: sh, dash, bash, ksh,
//   zsh), the program checked like the local runner's. Secrets go on stdin (`input`) only.
//   The host needs `timeout` (coreutils, or busybox); `env` only when env is set.
// - At most `maxSessions` commands run at once on the connection (default 4, below OpenSSH's
//   MaxSessions of 10); further calls wait their turn.
// - On timeout or abort the channel gets a KILL signal request (sshd kills the command's process
//   group) and is closed. sshd refuses that request for root logins (no privilege separation
//   after root logs in), so the host's own `timeout` ends the command one second after the
//   call's deadline anyway, also when the connection is lost. An aborted call's command on a
//   root login runs until that deadline.
// - Failures are ExecErrors with `host` set: 'exit' (code, stderr), 'not-found' (exit 127: the
//   shell or env found no such program), 'timeout', 'signal', and 'spawn' for everything about
//   the connection (unreachable, refused key, host key mismatch, connection lost mid-run),
//   which backends map to UNAVAILABLE.
import { createHash } from 'node:crypto';
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { logger } from '../observe/log.js';
import { execTotal } from '../observe/metrics.js';
import { ExecError } from './errors.js';
import { checkArgv, DEFAULT_TIMEOUT_MS, programName, type Runner, type RunOptions, type RunResult } from './runner.js';

export interface SshOptions {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default root. */
  user?: string;
  /** The client key (OpenSSH or PEM text); a function is called at every connect (rotation). */
  privateKey: string | Buffer | (() => Promise<string | Buffer>);
  /** The pinned host key: an OpenSSH public key line or a "SHA256:..." fingerprint. */
  hostKey: string;
  /** Commands at once on the connection; default 4. */
  maxSessions?: number;
  /** How long the host may stay silent before calls fail as spawn errors (UNAVAILABLE): the
   * deadline for connecting and authenticating, and for keepalives on an open connection (one
   * every quarter of it; three unanswered end the connection and the commands on it). After
   * such a silence, calls fail at once for as long again instead of each waiting it out.
   * Default 20 s; a call still gives up at its own deadline. */
  silenceMs?: number;
}

export const DEFAULT_MAX_SESSIONS = 4;
const SILENCE_MS = 20_000;
const MAX_OUTPUT = 64 * 1024 * 1024;
/** Seconds the host's `timeout` waits past the call's deadline. */
const REMOTE_GRACE_S = 1;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CWD = /^\/[^\0]*$/;

/** One word for a POSIX shell: single quotes, each ' written as '\''. Nothing inside expands. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line the remote shell runs for program + args: checked like the local runner's
 * argv, the program not starting with "-" (it follows `env`), env names by POSIX grammar.
 * `killAfterS` wraps it in `timeout -s KILL`, so it ends on the host by itself too.
 */
export function remoteCommand(program: string, args: readonly string[], env: RunOptions['env'] = {}, cwd?: string, killAfterS?: number): string {
  checkArgv(program, args);
  if (program.startsWith('-')) throw new TypeError(`refusing to run program ${JSON.stringify(program)}: it starts with "-"`);
  const unset: string[] = [];
  const set: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new TypeError(`refusing environment variable name ${JSON.stringify(name)}`);
    if (value === undefined) unset.push(`unset ${name}; `);
    else if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`refusing the value of environment variable ${name}: not a clean string`);
    else set.push(shellQuote(`${name}=${value}`));
  }
  let prefix = unset.join('');
  if (cwd !== undefined) {
    if (!CWD.test(cwd)) throw new TypeError(`refusing working directory ${JSON.stringify(cwd)}: not an absolute path`);
    prefix += `cd ${shellQuote(cwd)} || exit 1; `;
  }
  let limit = '';
  if (killAfterS !== undefined) {
    if (!Number.isInteger(killAfterS) || killAfterS < 1) throw new TypeError(`killAfterS must be a whole number of seconds, not ${killAfterS}`);
    limit = `timeout -s KILL ${killAfterS} `;
  }
  return `${prefix}exec ${limit}${set.length ? `env ${set.join(' ')} ` : ''}${[program, ...args].map(shellQuote).join(' ')}`;
}

/** "SHA256:<base64>" of a public key blob, as ssh-keygen -l prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface PinnedKey {
  fingerprint: string;
  /** The key type when a whole key line was pinned (then only that type is negotiated). */
  type?: string;
}

const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** Parses a pinned host key: "SHA256:<43 base64 chars>" or "<type> <base64> [comment]". */
export function parseHostKey(text: string): PinnedKey {
  const t = text.trim();
  if (/^SHA256:[A-Za-z0-9+/]{43}$/.test(t)) return { fingerprint: t };
  const [type, b64] = t.split(/\s+/);
  if (!type || !b64 || !KEY_TYPE.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new TypeError('a host key is an OpenSSH public key line ("ssh-ed25519 AAAA...") or a fingerprint ("SHA256:" and 43 base64 characters)');
  }
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with its own type as an SSH string: a line whose parts disagree is refused.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len !== type.length || blob.subarray(4, 4 + len).toString('latin1') !== type) {
    throw new TypeError(`the host key's data is not a ${type} key`);
  }
  return { fingerprint: fingerprint(blob), type };
}

// The signature algorithms that a pinned key type can be negotiated with.
const HOST_KEY_ALGORITHMS: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

interface Connection {
  client: SshClient;
  closed: boolean;
  /** Ended because the host stopped answering (keepalives), not by a close. */
  silent?: boolean;
}

export class SshRunner implements Runner {
  readonly host: string;
  private readonly pinned: PinnedKey;
  private readonly maxSessions: number;
  private conn?: Promise<Connection>;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private connects = 0;
  private closing = false;
  private readonly silenceMs: number;
  /** Until when new connections are not tried: the host just went silent for silenceMs. */
  private silentUntil = 0;

  constructor(private readonly o: SshOptions) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.:-]+)$/.test(o.host)) throw new TypeError(`not a host name or address: ${JSON.stringify(o.host)}`);
    this.host = o.host;
    this.pinned = parseHostKey(o.hostKey);
    this.maxSessions = o.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) throw new TypeError('maxSessions must be a whole number of at least 1');
    this.silenceMs = o.silenceMs ?? SILENCE_MS;
    if (!Number.isInteger(this.silenceMs) || this.silenceMs < 1000) throw new TypeError('silenceMs must be a whole number of milliseconds, at least 1000');
  }

  /** Connections opened so far, commands running, calls waiting for a session slot. */
  stats(): { connects: number; active: number; queued: number } {
    return { connects: this.connects, active: this.active, queued: this.waiting.length };
  }

  async run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The host ends the command a little after our own deadline: this call reports the timeout,
    // and the command cannot outlive it where the KILL request is refused (sshd refuses it to
    // root logins) or the connection is gone.
    const command = remoteCommand(program, args, opts.env, opts.cwd, Math.ceil(timeoutMs / 1000) + REMOTE_GRACE_S);
    execTotal.inc({ program: programName(program), where: 'ssh' });
    const started = performance.now();
    const fail = (reason: ExecError['reason'], stderr = '', stdout = '', code?: number) =>
      new ExecError(program, args, code, stderr, stdout, reason, this.host);

    // One deadline for the whole call: waiting for a slot, connecting, running.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort('timeout'), timeoutMs);
    const onAbort = () => ac.abort('signal');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) ac.abort('signal');
    let exitCode: number | undefined;
    try {
      await this.acquire(ac.signal);
      try {
        if (ac.signal.aborted) throw fail(ac.signal.reason === 'timeout' ? 'timeout' : 'signal');
        const r = await this.execOnce(command, opts.input, ac.signal, fail);
        exitCode = r.exitCode;
        if (r.exitCode === 127 && !(opts.okCodes ?? [0]).includes(127)) throw fail('not-found', r.stderr, r.stdout, 127);
        if (!(opts.okCodes ?? [0]).includes(r.exitCode)) throw fail('exit', r.stderr, r.stdout, r.exitCode);
        return { ...r, durationMs: Math.round(performance.now() - started) };
      } finally {
        this.release();
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      logger().debug({ host: this.host, program, args, exitCode, durationMs: Math.round(performance.now() - started) }, 'exec');
    }
  }

  /** Ends the connection (calls after this open a new one). */
  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (!c) return;
    try {
      const conn = await c;
      conn.closed = true;
      conn.client.end();
    } catch { /* it never opened */ }
  }

  // ---- concurrency cap ----------------------------------------------------------------------

  private acquire(signal: AbortSignal): Promise<void> {
    if (this.active < this.maxSessions) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const go = () => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      // A call that times out while waiting leaves the queue (run() then reports the timeout).
      const onAbort = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        this.active++;
        resolve();
      };
      this.waiting.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  // ---- the connection -----------------------------------------------------------------------

  private connection(signal: AbortSignal): Promise<Connection> {
    const existing = this.conn;
    if (existing) return raceAbort(existing, signal);
    const left = this.silentUntil - Date.now();
    if (left > 0) {
      return Promise.reject(new Error(`${this.where()} did not answer for ${this.silenceMs / 1000} s; the next connection is tried in ${Math.ceil(left / 1000)} s`));
    }
    // The connection is shared: its own deadline, not this call's (a short call that gives up
    // waiting must not fail the connection the next calls wait for).
    const p = this.open(this.silenceMs);
    this.conn = p;
    p.then((conn) => {
      conn.client.on('close', () => {
        conn.closed = true;
        if (this.conn === p) this.conn = undefined;
      });
    }, () => { if (this.conn === p) this.conn = undefined; });
    return raceAbort(p, signal);
  }

  private async open(readyTimeout: number): Promise<Connection> {
    const privateKey = typeof this.o.privateKey === 'function' ? await this.o.privateKey() : this.o.privateKey;
    this.connects++;
    // ssh2 costs about 5 MB of memory; loaded on the first connection, not by every driver.
    const { default: ssh2 } = await import('ssh2');
    const client = new ssh2.Client();
    let seen: string | undefined;
    return new Promise<Connection>((resolve, reject) => {
      const conn: Connection = { client, closed: false };
      client.once('ready', () => resolve(conn));
      // Kept for the connection's life: an 'error' without a listener would end the process.
      client.on('error', (e: Error & { level?: string }) => {
        conn.closed = true;
        // ssh2's level for a ready timeout and for unanswered keepalives: the host is silent.
        if (e.level === 'client-timeout') {
          conn.silent = true;
          this.silentUntil = Date.now() + this.silenceMs;
        }
        client.end();
        if (seen !== undefined && seen !== this.pinned.fingerprint) {
          reject(new Error(`host key mismatch for ${this.where()}: expected ${this.pinned.fingerprint}, the server presented ${seen}`));
        } else {
          reject(new Error(`cannot connect to ${this.where()}: ${e.message}`));
        }
      });
      client.once('close', () => reject(new Error(`connection to ${this.where()} closed before it was ready`)));
      client.connect({
        host: this.o.host.replace(/^\[(.*)\]$/, '$1'),
        port: this.o.port ?? 22,
        username: this.o.user ?? 'root',
        privateKey,
        readyTimeout,
        keepaliveInterval: Math.max(250, Math.floor(readyTimeout / 4)),
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          seen = fingerprint(key);
          return seen === this.pinned.fingerprint;
        },
        ...(this.pinned.type ? { algorithms: { serverHostKey: (HOST_KEY_ALGORITHMS[this.pinned.type] ?? [this.pinned.type]) as never } } : {}),
      });
    });
  }

  private where(): string {
    return `${this.o.user ?? 'root'}@${this.o.host}:${this.o.port ?? 22}`;
  }

  /** Runs the command on one channel; a connection that turns out dead is replaced once. */
  private async execOnce(
    command: string, input: string | Buffer | undefined, signal: AbortSignal,
    fail: (reason: ExecError['reason'], stderr?: string, stdout?: string, code?: number) => ExecError,
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    for (let attempt = 0; ; attempt++) {
      let conn: Connection;
      try {
        conn = await this.connection(signal);
      } catch (e) {
        if (signal.aborted) throw fail(signal.reason === 'timeout' ? 'timeout' : 'signal');
        throw fail('spawn', (e as Error).message);
      }
      let channel: ClientChannel;
      try {
        channel = await openChannel(conn.client, command, signal);
      } catch (e) {
        if (signal.aborted) throw fail(signal.reason === 'timeout' ? 'timeout' : 'signal');
        // Nothing ran: a connection that died unnoticed is opened again, once (not one that
        // died of the host's silence: that would wait it out a second time).
        if ((conn.closed || /not connected|no response/i.test((e as Error).message)) && attempt === 0 && !conn.silent) {
          if (this.conn) void this.close();
          continue;
        }
        throw fail('spawn', `cannot start the command on ${this.where()}: ${(e as Error).message}`);
      }
      return collect(channel, input, signal, fail, () => this.where());
    }
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}

/** Opens an exec channel; one that arrives after the call was abandoned is killed at once. */
function openChannel(client: SshClient, command: string, signal: AbortSignal): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    let settled = false;
    const onAbort = () => { if (!settled) { settled = true; reject(new Error('aborted')); } };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      client.exec(command, (err, channel) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) {
          if (channel) kill(channel);
          return;
        }
        settled = true;
        if (err) reject(err);
        else resolve(channel);
      });
    } catch (e) {
      signal.removeEventListener('abort', onAbort);
      settled = true;
      reject(e as Error);
    }
  });
}

// ssh2's channel.signal() sends nothing once our side of the channel has ended (stdin is
// closed right after the input), although SSH allows requests until the channel closes; then
// the request goes through ssh2's protocol object directly. The unit and lab tests check
// that the remote process really ends.
interface ChannelInternals {
  writable: boolean;
  outgoing?: { id: number; state: string };
  _client?: { _protocol?: { signal(id: number, name: string): void } };
}

/** sshd answers a "signal" request with killpg() on the command's session; then the channel goes. */
function kill(channel: ClientChannel): void {
  const c = channel as unknown as ChannelInternals;
  try {
    if (c.writable) channel.signal('KILL');
    else if (c.outgoing && (c.outgoing.state === 'open' || c.outgoing.state === 'eof')) c._client?._protocol?.signal(c.outgoing.id, 'KILL');
  } catch { /* the channel is already gone */ }
  try { channel.close(); } catch { /* idem */ }
}

function collect(
  channel: ClientChannel, input: string | Buffer | undefined, signal: AbortSignal,
  fail: (reason: ExecError['reason'], stderr?: string, stdout?: string, code?: number) => ExecError, where: () => string,
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let exit: { code?: number; signal?: string } | undefined;
    let done = false;
    const text = (b: Buffer[]) => Buffer.concat(b).toString('utf8');
    const finish = (e?: ExecError) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      if (e) reject(e);
      else if (exit?.code !== undefined) resolve({ stdout: text(out), stderr: text(err), exitCode: exit.code });
      else if (exit?.signal) reject(fail('signal', `${text(err)}\n(killed by SIG${exit.signal} on ${where()})`.trim(), text(out)));
      else reject(fail('spawn', `${text(err)}\nthe connection to ${where()} ended before the command reported its exit status`.trim(), text(out)));
    };
    const onAbort = () => {
      kill(channel);
      finish(fail(signal.reason === 'timeout' ? 'timeout' : 'signal', text(err), text(out)));
    };
    const take = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) {
        kill(channel);
        finish(fail('signal', `output exceeded ${MAX_OUTPUT} bytes; the command was killed`, ''));
        return;
      }
      into.push(d);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    channel.on('data', take(out));
    channel.stderr.on('data', take(err));
    channel.on('exit', (code: number | null, sig?: string) => {
      exit = code === null || code === undefined ? { signal: sig ?? 'unknown' } : { code };
    });
    // ssh2 hands the channel over while it parses a read: an exit status in that same read is
    // emitted before the listener above exists. The close event repeats the status.
    channel.on('close', (code?: number | null, sig?: string) => {
      if (!exit && typeof code === 'number') exit = { code };
      else if (!exit && code === null && sig) exit = { signal: sig };
      finish();
    });
    channel.on('error', (e: Error) => finish(fail('spawn', `channel error on ${where()}: ${e.message}`, text(out))));
    // Programs that read stdin get the input, then end of file; the others get end of file.
    channel.end(input === undefined ? undefined : input);
  });
}
