// An SSH server in the test process (ssh2's Server) on 127.0.0.1 that runs every exec request
// for real, as sshd does: `/bin/sh -c <command>` in its own session (process group), stdin and
// output over the channel, the exit status or signal reported back, and a "signal" request
// delivered to the whole process group (sshd's killpg). It counts what the runner's pooling
// and concurrency cap must show: connections, commands running at once, authentications.
// The lab test (test/lab/ssh-runner.test.ts) runs the same runner against the real sshd.
import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, Server } from 'ssh2';

export interface KeyPair { private: string; public: string }

export function keyPair(): KeyPair {
  // ssh2's generateKeyPairSync drops a leading zero byte of the ed25519 public key about once in
  // 270 keys, and its own parser then refuses the private key ("Malformed OpenSSH private key"):
  // a whole test file failed that way. Take the next key when the parser refuses one.
  for (;;) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', {});
    if (!(ssh2.utils.parseKey(k.private) instanceof Error) && !(ssh2.utils.parseKey(k.public) instanceof Error)) return { private: k.private, public: k.public };
  }
}

export class TestSshServer {
  readonly hostKey = keyPair();
  readonly clientKey = keyPair();
  connections = 0;
  authentications = 0;
  execs: string[] = [];
  /** The process id of each command, by its command line. */
  pids = new Map<string, number>();
  running = 0;
  maxRunning = 0;
  private server?: Server;
  private readonly clients = new Set<Connection>();
  port = 0;
  /** Refuse "signal" requests, as OpenSSH's sshd does for root logins. */
  refuseSignals = false;
  /**
   * Commands answered without running anything: output, exit status, EOF and close written in
   * the same tick as the exec's success reply, so they reach the client in one read (what a
   * loaded sshd's batching does to a quick command). Keyed by a word of the command line.
   */
  instant = new Map<string, { stdout: string; code: number }>();

  async start(): Promise<this> {
    const allowed = ssh2.utils.parseKey(this.clientKey.public) as ParsedKey;
    this.server = new ssh2.Server({ hostKeys: [this.hostKey.private] }, (client) => {
      this.connections++;
      this.clients.add(client);
      client.on('close', () => this.clients.delete(client));
      client.on('error', () => { /* a client that goes away */ });
      client.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        const want = allowed.getPublicSSH();
        if (ctx.key.algo !== allowed.type || ctx.key.data.length !== want.length || !timingSafeEqual(ctx.key.data, want)) return ctx.reject(['publickey']);
        if (ctx.signature && ctx.blob && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
        if (ctx.signature) this.authentications++;
        ctx.accept();
      });
      client.on('ready', () => {
        client.on('session', (acceptSession) => {
          const session = acceptSession();
          let pid: number | undefined;
          session.on('signal', (_accept, _reject, info) => {
            if (this.refuseSignals) return;
            if (pid !== undefined) try { process.kill(-pid, `SIG${info.name}` as NodeJS.Signals); } catch { /* gone */ }
          });
          session.on('exec', (accept, _reject, info) => {
            const canned = [...this.instant].find(([word]) => info.command.includes(word))?.[1];
            if (canned) {
              // Corked: the reply, the output, the status, EOF and close leave in one write.
              const sock = (client as unknown as { _sock: import('node:net').Socket })._sock;
              sock.cork();
              const channel = accept();
              this.execs.push(info.command);
              channel.write(canned.stdout);
              channel.exit(canned.code);
              channel.end();
              process.nextTick(() => sock.uncork());
              return;
            }
            const channel = accept();
            // ssh2's Server drops every request after the client's EOF (the runner closes stdin
            // at once); sshd takes them until the channel closes. Act like sshd.
            Object.defineProperty(session, '_ending', { get: () => false, set: () => { /* ignored */ } });
            this.execs.push(info.command);
            this.running++;
            this.maxRunning = Math.max(this.maxRunning, this.running);
            const child = spawn('/bin/sh', ['-c', info.command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
            pid = child.pid;
            if (pid !== undefined) this.pids.set(info.command, pid);
            channel.pipe(child.stdin);
            child.stdin.on('error', () => { /* the command did not read its input */ });
            child.stdout.pipe(channel, { end: false });
            child.stderr.pipe(channel.stderr, { end: false });
            child.on('close', (code, signal) => {
              this.running--;
              try {
                if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
                else channel.exit(code ?? 0);
                channel.end();
              } catch { /* the client closed the channel */ }
            });
          });
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Drops every client connection (a network failure, an sshd restart). */
  dropClients(): void {
    for (const c of this.clients) c.end();
  }

  async stop(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/**
 * A TCP relay in front of the server that can go silent, as a partitioned network or a hung host
 * does: while frozen it accepts connections and keeps every socket open but passes no byte either
 * way (what it receives is dropped). Nothing is closed, so only the client's own deadlines and
 * keepalives can tell.
 */
export class SilentRelay {
  port = 0;
  frozen = false;
  private server?: NetServer;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(from);
        from.on('error', () => { /* a side that goes away */ });
        from.on('data', (d) => { if (!this.frozen) to.write(d); });
        from.on('close', () => { this.sockets.delete(from); to.destroy(); });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
