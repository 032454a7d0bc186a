// SshRunner against an SSH server in this process that runs every command for real through
// /bin/sh (test/unit/ssh-server.ts): pooling, reconnects, the session cap, timeouts that end the
// remote process, host key pinning, and errors shaped like the local runner's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { closeSshRunners, sshRunnerFor } from '../../src/backends/ssh.js';
import { DirSecrets } from '../../src/backends/secrets.js';
import { lvmError } from '../../src/backends/lvm/errors.js';
import { StorageError } from '../../src/backends/errors.js';
import { toStatus } from '../../src/csi/errors.js';
import { ExecError, waitFor } from '../../src/exec/index.js';
import { parseHostKey, SshRunner, type SshOptions } from '../../src/exec/ssh.js';
import { SshTargetSchema } from '../../src/pools/ssh.js';
import { keyPair, SilentRelay, TestSshServer } from './ssh-server.js';

let server: TestSshServer;
const runners: SshRunner[] = [];

before(async () => { server = await new TestSshServer().start(); });
after(async () => {
  await Promise.all(runners.map((r) => r.close()));
  await closeSshRunners();
  await server.stop();
});

function runner(o: Partial<SshOptions> = {}): SshRunner {
  const r = new SshRunner({ host: '127.0.0.1', port: server.port, user: 'tester', privateKey: server.clientKey.private, hostKey: server.hostKey.public, ...o });
  runners.push(r);
  return r;
}

/** Whether a process still runs (a zombie waiting for a parent that never reaps it does not). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

test('runs argv on the host: output, exit codes, stdin, okCodes, environment', async () => {
  const r = runner();
  const ok = await r.run('sh', ['-c', 'echo "out $1"; echo err >&2', 'sh', "it's $(not) run"]);
  assert.equal(ok.stdout, "out it's $(not) run\n");
  assert.equal(ok.stderr, 'err\n');
  assert.equal(ok.exitCode, 0);
  assert.equal((await r.run('cat', [], { input: 'key-material\n' })).stdout, 'key-material\n');
  assert.equal((await r.run('sh', ['-c', 'exit 3'], { okCodes: [0, 3] })).exitCode, 3);
  assert.equal((await r.run('printenv', ['LVM_SUPPRESS_FD_WARNINGS'], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } })).stdout, '1\n');
  // A command that reads stdin without input gets end of file at once, not a hang.
  assert.equal((await r.run('cat', [], { timeoutMs: 5000 })).stdout, '');
  await assert.rejects(r.run('ls', ['/definitely/not/here']), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.reason, 'exit');
    assert.equal(e.host, '127.0.0.1');
    assert.equal(e.program, 'ls');
    assert.ok(e.exitCode !== 0);
    assert.match(e.stderr, /No such file/);
    return true;
  });
  await assert.rejects(r.run('no-such-program-poolcsi', []), (e: unknown) => e instanceof ExecError && e.reason === 'not-found' && e.exitCode === 127);
});

test('an exit status that arrives in the same read as the exec reply is not lost', async () => {
  // The CI lab saw "ended before the command reported its exit status" with the output in hand:
  // ssh2 emits the channel's exit event while handing over the channel, before a listener that
  // is attached a microtask later can hear it; the close event still carries the status.
  const r = runner();
  server.instant.set('instant-answer', { stdout: 'done\n', code: 3 });
  for (let i = 0; i < 20; i++) {
    const res = await r.run('instant-answer', [], { okCodes: [3] });
    assert.equal(res.stdout, 'done\n');
    assert.equal(res.exitCode, 3);
  }
});

test('one connection serves many calls, also concurrent ones', async () => {
  const before = server.connections;
  const r = runner();
  await Promise.all(Array.from({ length: 12 }, (_, i) => r.run('echo', [String(i)])));
  await r.run('true', []);
  assert.equal(server.connections - before, 1);
  assert.equal(r.stats().connects, 1);
});

test('at most maxSessions commands run at once; the rest wait their turn', async () => {
  const r = runner({ maxSessions: 2 });
  server.maxRunning = 0;
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => r.run('sh', ['-c', `sleep 0.2; echo ${i}`])));
  assert.deepEqual(results.map((x) => x.stdout), Array.from({ length: 8 }, (_, i) => `${i}\n`));
  assert.ok(server.maxRunning <= 2, `server saw ${server.maxRunning} commands at once`);
  assert.equal(server.maxRunning, 2);
  assert.deepEqual({ active: r.stats().active, queued: r.stats().queued }, { active: 0, queued: 0 });
});

test('a timeout kills the remote process group and frees the slot', async () => {
  const r = runner({ maxSessions: 1 });
  const t0 = Date.now();
  let pid = 0;
  let child = 0;
  await assert.rejects(r.run('sh', ['-c', 'sleep 600 & echo $$ $!; wait'], { timeoutMs: 1000 }), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.reason, 'timeout');
    [pid, child] = e.stdout.trim().split(' ').map(Number) as [number, number];
    return true;
  });
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(pid > 0 && child > 0, 'the command had started');
  await waitFor(() => !alive(pid) && !alive(child), { timeoutMs: 5000, what: 'the remote shell and its sleep to end' });
  // The one slot is free again.
  assert.equal((await r.run('echo', ['next'], { timeoutMs: 5000 })).stdout, 'next\n');
});

test('where sshd refuses the KILL request (root logins), the host\'s own timeout ends the command', async () => {
  server.refuseSignals = true;
  try {
    const r = runner();
    const p = r.run('sleep', ['602'], { timeoutMs: 1000 });
    const pid = await waitFor(() => server.pids.get("exec timeout -s KILL 2 'sleep' '602'"), { timeoutMs: 5000, what: 'the command to start' });
    await assert.rejects(p, (e: unknown) => e instanceof ExecError && e.reason === 'timeout');
    // Within a second of the call's deadline.
    await waitFor(() => !alive(pid), { timeoutMs: 5000, what: 'the remote sleep to end by itself' });
  } finally {
    server.refuseSignals = false;
  }
});

test('an abort signal ends the remote command too', async () => {
  const r = runner();
  const ac = new AbortController();
  const p = r.run('sleep', ['601'], { signal: ac.signal, timeoutMs: 60_000 });
  const pid = await waitFor(() => server.pids.get("exec timeout -s KILL 61 'sleep' '601'"), { timeoutMs: 5000, what: 'the command to start' });
  assert.ok(alive(pid));
  ac.abort();
  await assert.rejects(p, (e: unknown) => e instanceof ExecError && e.reason === 'signal');
  await waitFor(() => !alive(pid), { timeoutMs: 5000, what: 'the remote sleep to end' });
});

test('a call that gives up while the connection is being made does not fail that connection', async () => {
  const r = runner();
  await assert.rejects(r.run('echo', ['early'], { timeoutMs: 1 }), (e: unknown) => e instanceof ExecError && e.reason === 'timeout');
  assert.equal((await r.run('echo', ['later'])).stdout, 'later\n');
  assert.equal(r.stats().connects, 1);
});

test('a dropped connection is opened again by the next call', async () => {
  const r = runner();
  await r.run('true', []);
  server.dropClients();
  await waitFor(async () => { try { return (await r.run('echo', ['again'])).stdout === 'again\n'; } catch { return false; } }, { timeoutMs: 10_000, what: 'a call after the drop' });
  assert.ok(r.stats().connects >= 2);
});

test('a connection lost mid-command fails that call as spawn (UNAVAILABLE), not as a result', async () => {
  const r = runner();
  const p = r.run('sleep', ['30'], { timeoutMs: 60_000 });
  await waitFor(() => server.execs.some((c) => c === "exec timeout -s KILL 61 'sleep' '30'") && server.running > 0, { timeoutMs: 5000, what: 'the command to start' });
  server.dropClients();
  await assert.rejects(p, (e: unknown) => e instanceof ExecError && e.reason === 'spawn' && /connection/.test(e.stderr));
});

test('a host gone silent mid-command fails the call within silenceMs (keepalives), later calls at once, and it is used again when it answers', async () => {
  const relay = await new SilentRelay(server.port).start();
  try {
    const r = runner({ port: relay.port, silenceMs: 2000 });
    assert.equal((await r.run('echo', ['up'])).stdout, 'up\n');
    const p = r.run('sleep', ['30'], { timeoutMs: 60_000 });
    await waitFor(() => server.running > 0, { timeoutMs: 5000, what: 'the command to start' });
    relay.frozen = true;
    const t0 = Date.now();
    await assert.rejects(p, (e: unknown) => e instanceof ExecError && e.reason === 'spawn');
    const took = Date.now() - t0;
    assert.ok(took >= 1000 && took < 3500, `the silent host was noticed after ${took} ms (silenceMs 2000)`);
    const t1 = Date.now();
    await assert.rejects(r.run('true', []), (e: unknown) => e instanceof ExecError && e.reason === 'spawn' && /did not answer for 2 s/.test(e.stderr));
    assert.ok(Date.now() - t1 < 500, 'a call right after the silence fails at once instead of waiting it out again');
    relay.frozen = false;
    const back = Date.now();
    await waitFor(async () => { try { return (await r.run('echo', ['again'])).stdout === 'again\n'; } catch { return false; } }, { timeoutMs: 10_000, what: 'a call after the host answers again' });
    assert.ok(Date.now() - back < 4000, `used again ${Date.now() - back} ms after it answered`);
  } finally {
    await relay.stop();
  }
});

test('a silent host at the first connection: the call fails within silenceMs (UNAVAILABLE), not at its own deadline', async () => {
  const relay = await new SilentRelay(server.port).start();
  try {
    relay.frozen = true;
    const r = runner({ port: relay.port, silenceMs: 1500 });
    const t0 = Date.now();
    const e = await r.run('true', [], { timeoutMs: 60_000 }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ExecError && e.reason === 'spawn', String(e));
    assert.ok(Date.now() - t0 < 3000, `answered after ${Date.now() - t0} ms`);
    assert.equal(toStatus(lvmError(e, 'reading the VG')).code, status.UNAVAILABLE);
  } finally {
    await relay.stop();
  }
});

test('a host key other than the pinned one is refused before authentication, naming both fingerprints', async () => {
  const other = keyPair();
  const authBefore = server.authentications;
  const execsBefore = server.execs.length;
  for (const hostKey of [other.public, parseHostKey(other.public).fingerprint]) {
    const r = runner({ hostKey });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(r.run('touch', ['/tmp/poolcsi-must-not-exist']), (e: unknown) => {
        assert.ok(e instanceof ExecError);
        assert.equal(e.reason, 'spawn');
        assert.ok(e.message.includes(`expected ${parseHostKey(other.public).fingerprint}`), e.message);
        assert.ok(e.message.includes(`presented ${parseHostKey(server.hostKey.public).fingerprint}`), e.message);
        return true;
      });
    }
  }
  assert.equal(server.authentications, authBefore, 'the client authenticated to an unverified host');
  assert.equal(server.execs.length, execsBefore);
  // The pinned fingerprint alone is enough.
  assert.equal((await runner({ hostKey: parseHostKey(server.hostKey.public).fingerprint }).run('echo', ['ok'])).stdout, 'ok\n');
});

test('connection failures are spawn errors that LVM and the CSI layer report as UNAVAILABLE', async () => {
  const r = runner({ port: 1, silenceMs: 3000 });
  const e = await r.run('lvs', []).then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof ExecError && e.reason === 'spawn', String(e));
  assert.match(e.message, /lvs on 127\.0\.0\.1 could not be started: cannot connect to tester@127\.0\.0\.1:1/);
  const wrapped = lvmError(e, 'listing the LVs of volume group vg0');
  assert.ok(wrapped instanceof StorageError && wrapped.kind === 'unavailable');
  assert.equal(toStatus(wrapped).code, status.UNAVAILABLE);
  assert.equal(toStatus(e).code, status.UNAVAILABLE);
  // A refused client key too.
  const wrongUser = runner({ privateKey: keyPair().private });
  await assert.rejects(wrongUser.run('true', []), (x: unknown) => x instanceof ExecError && x.reason === 'spawn' && /authentication/i.test(x.stderr));
});

test('the SSH target schema: defaults, a key from a Secret or a file, a required pinned host key; one runner per target', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'poolcsi-ssh-'));
  try {
    const t = SshTargetSchema.parse({ host: '127.0.0.1', port: server.port, privateKey: { secretRef: { name: 'storage-ssh', namespace: 'kube-system' } }, hostKey: server.hostKey.public });
    assert.equal(t.user, 'root');
    assert.equal(t.maxSessions, 4);
    assert.deepEqual(t.privateKey, { secretRef: { name: 'storage-ssh', namespace: 'kube-system', key: 'ssh-privatekey' } });
    for (const bad of [
      { host: 'h', privateKey: { file: '/k' } },                                     // no host key: never trust on first use
      { host: 'h', privateKey: { file: '/k' }, hostKey: 'yes' },
      { host: 'h; rm -rf /', privateKey: { file: '/k' }, hostKey: server.hostKey.public },
      { host: 'h', privateKey: { file: 'relative' }, hostKey: server.hostKey.public },
      { host: 'h', privateKey: { file: '/a/../k' }, hostKey: server.hostKey.public },
      { host: 'h', privateKey: 'inline-key', hostKey: server.hostKey.public },
      { host: 'h', user: 'root;id', privateKey: { file: '/k' }, hostKey: server.hostKey.public },
    ]) assert.equal(SshTargetSchema.safeParse(bad).success, false, JSON.stringify(bad));

    mkdirp(join(dir, 'kube-system', 'storage-ssh'));
    writeFileSync(join(dir, 'kube-system', 'storage-ssh', 'ssh-privatekey'), server.clientKey.private);
    const secrets = new DirSecrets(dir);
    const a = await sshRunnerFor({ ...t, user: 'tester' }, 'pool "p"', secrets);
    assert.equal((await a.run('echo', ['from secret'])).stdout, 'from secret\n');
    assert.equal(await sshRunnerFor({ ...t, user: 'tester' }, 'pool "q"', secrets), a, 'the same target shares one runner');

    writeFileSync(join(dir, 'id'), server.clientKey.private, { mode: 0o600 });
    const f = await sshRunnerFor(SshTargetSchema.parse({ host: '127.0.0.1', port: server.port, user: 'tester', privateKey: { file: join(dir, 'id') }, hostKey: parseHostKey(server.hostKey.public).fingerprint }), 'pool "f"', secrets);
    assert.equal((await f.run('echo', ['from file'])).stdout, 'from file\n');

    // A host key from a Secret.
    mkdirp(join(dir, 'kube-system', 'storage-hostkey'));
    writeFileSync(join(dir, 'kube-system', 'storage-hostkey', 'ssh-hostkey'), server.hostKey.public);
    const h = await sshRunnerFor({ ...t, user: 'tester', hostKey: { secretRef: { name: 'storage-hostkey', namespace: 'kube-system', key: 'ssh-hostkey' } } }, 'pool "h"', secrets);
    assert.equal((await h.run('echo', ['pinned from secret'])).stdout, 'pinned from secret\n');

    const missing = await sshRunnerFor({ ...t, user: 'tester', privateKey: { secretRef: { name: 'absent', namespace: 'kube-system', key: 'ssh-privatekey' } } }, 'pool "m"', secrets);
    await assert.rejects(missing.run('true', []), (e: unknown) => e instanceof ExecError && e.reason === 'spawn' && /Secret kube-system\/absent does not exist/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function mkdirp(p: string): void {
  rmSync(p, { recursive: true, force: true });
  mkdirSync(p, { recursive: true });
}
