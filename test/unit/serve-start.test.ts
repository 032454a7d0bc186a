// Issue 10 items 12 and 13: `serve` claims its socket and its metrics port safely, or exits.
// The real CLI in a child process, as kubelet's pod would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile, lstat, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { serve } from '../../src/cli/serve.js';
import { loadCsi } from '../../src/csi/proto.js';
import { caller, startPoolcsi } from './helpers.js';
import { waitFor } from '../../src/exec/wait.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.cjs', import.meta.url));

/** Runs `poolcsi serve ...` and waits for it to exit (the deadline fails the test: it kept serving). */
function serveExits(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--mode', 'all', '--node-id', 'node-b', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => { stdout += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`serve did not exit within ${timeoutMs} ms; stderr: ${stderr}`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, stderr, stdout }); });
  });
}

async function poolsFile(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-start-'));
  await mkdir(join(dir, 'pool'));
  const file = join(dir, 'pools.yaml');
  await writeFile(file, `pools:\n  - {id: local, type: dir, path: ${join(dir, 'pool')}, quota: 'off'}\n`);
  return { dir, file };
}

/** The JSON log line that says why the start failed. */
function fatalLine(stderr: string): { level: number; msg: string; error: string } {
  const lines = stderr.trim().split('\n').map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).filter(Boolean);
  const fatal = lines.find((l) => l.msg === 'poolcsi cannot start');
  assert.ok(fatal, `no JSON "cannot start" line in: ${stderr}`);
  return fatal;
}

test('item 12: a second instance refuses a live socket; the first keeps serving', async () => {
  const h = await startPoolcsi();
  try {
    const { file } = await poolsFile();
    const r = await serveExits(['--endpoint', `unix://${h.socket}`, '--pools-file', file, '--state-dir', join(dirname(file), 'state')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(fatalLine(r.stderr).error, /another process is serving on this socket/);
    assert.ok((await lstat(h.socket)).isSocket());
    assert.equal((await h.identity('Probe', {})).ready.value, true);
  } finally {
    await h.stop();
  }
});

test('item 12: an endpoint path that is not a socket is refused and left alone', async () => {
  const { dir, file } = await poolsFile();
  const victim = join(dir, 'notes.txt');
  await writeFile(victim, 'keep me');
  const r = await serveExits(['--endpoint', `unix://${victim}`, '--pools-file', file, '--state-dir', join(dirname(file), 'state')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(fatalLine(r.stderr).error, /is not a socket \(a regular file\); refusing to replace it/);
  assert.equal(await readFile(victim, 'utf8'), 'keep me');
  const sub = join(dir, 'adir');
  await mkdir(sub);
  const d = await serveExits(['--endpoint', `unix://${sub}`, '--pools-file', file, '--state-dir', join(dirname(file), 'state')]);
  assert.equal(d.code, 1, d.stderr);
  assert.ok((await lstat(sub)).isDirectory());
});

test('item 12: a stale socket (its process killed) is replaced', async () => {
  const { dir, file } = await poolsFile();
  const sock = join(dir, 'stale.sock');
  // A process that listens and dies without cleaning up, as a crashed driver does.
  await new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    c.on('exit', () => resolve());
    c.on('error', reject);
  });
  assert.ok((await lstat(sock)).isSocket());
  const running = await serve({ mode: 'all', endpoint: `unix://${sock}`, nodeId: 'node-a', poolsFile: file, stateDir: join(dir, 'state'), logLevel: 'silent' });
  const client = new (loadCsi().Identity)(`unix://${sock}`, grpc.credentials.createInsecure());
  try {
    const r = await caller(client, 5000)('Probe', {});
    assert.equal(r.ready.value, true);
  } finally {
    client.close();
    await running.stop();
  }
});

test('item 13: a busy --metrics-address is a JSON log line and exit 1, before serving', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  const port = (busy.address() as { port: number }).port;
  try {
    const { dir, file } = await poolsFile();
    const sock = join(dir, 'csi.sock');
    const r = await serveExits(['--endpoint', `unix://${sock}`, '--pools-file', file, '--state-dir', join(dirname(file), 'state'), '--metrics-address', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.stderr);
    const line = fatalLine(r.stderr);
    assert.equal(line.level, 60);
    assert.match(line.error, new RegExp(`--metrics-address 127.0.0.1:${port}: the address is already in use`));
    assert.doesNotMatch(r.stderr, /^Error|EADDRINUSE/m);
    await assert.rejects(lstat(sock), /ENOENT/);
  } finally {
    busy.close();
  }
});

/** Starts `poolcsi serve --mode controller` on a socket in `dir`; resolves once Probe answers. */
async function serveDraining(dir: string, file: string, drainSeconds: number) {
  const socket = join(dir, 'csi.sock');
  const child = spawn(process.execPath, [MAIN, 'serve', '--mode', 'controller', '--endpoint', `unix://${socket}`, '--pools-file', file,
    '--state-dir', join(dir, 'state'), '--drain-seconds', String(drainSeconds), '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise<number>((r) => child.once('exit', () => r(performance.now())));
  const client = new (loadCsi().Identity)(`unix://${socket}`, grpc.credentials.createInsecure());
  const probe = () => caller(client, 2000)('Probe', {});
  await waitFor(() => probe().then(() => true, () => undefined), { timeoutMs: 30_000, what: 'the driver answering Probe' });
  return { child, client, probe, exited };
}

test('--drain-seconds: after SIGTERM the controller serves its connected clients until they hang up, then exits', async () => {
  const { dir, file } = await poolsFile();
  const s = await serveDraining(dir, file, 60);
  s.child.kill('SIGTERM');
  // Still answering the sidecar that is finishing its work, well past the 5 s gRPC grace.
  await new Promise((r) => setTimeout(r, 1500));
  await s.probe();
  assert.equal(s.child.exitCode, null, 'serve kept running while a client was connected');
  const hungUp = performance.now();
  s.client.close();
  const at = await s.exited;
  assert.ok(at - hungUp < 10_000, `exited ${Math.round(at - hungUp)} ms after the last client hung up`);
});

test('--drain-seconds: a client that never hangs up holds the stop only until the deadline; a bad value is a usage error', async () => {
  const { dir, file } = await poolsFile();
  const s = await serveDraining(dir, file, 2);
  const t0 = performance.now();
  s.child.kill('SIGTERM');
  const at = await s.exited;
  s.client.close();
  assert.ok(at - t0 >= 1900 && at - t0 < 12_000, `stopped ${Math.round(at - t0)} ms after SIGTERM with a 2 s drain`);
  const bad = await serveExits(['--endpoint', `unix://${join(dir, 'x.sock')}`, '--pools-file', file, '--drain-seconds=1.5']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--drain-seconds must be an integer/);
});

test('--pools-file: a controller restarted while pools.yaml is refused serves the last good pools from --state-dir', async () => {
  const { dir, file } = await poolsFile();
  const sock = join(dir, 'csi.sock');
  const start = () => serve({ mode: 'all', endpoint: `unix://${sock}`, nodeId: 'node-a', poolsFile: file, stateDir: join(dir, 'state'), logLevel: 'silent' });
  const csi = loadCsi();
  const ask = (client: grpc.Client, method: string, req: object) => caller(client, 5000)(method, req);
  await (await start()).stop();
  // Broken while the driver was down: a dir pool without its path.
  await writeFile(file, 'pools:\n  - {id: local, type: dir}\n');
  const running = await start();
  const id = new csi.Identity(`unix://${sock}`, grpc.credentials.createInsecure());
  const ctl = new csi.Controller(`unix://${sock}`, grpc.credentials.createInsecure());
  try {
    assert.equal((await ask(id, 'Probe', {})).ready.value, true, 'ready: the last good pools are loaded');
    // Active, not merely remembered as retired (a retired pool refuses new volumes).
    const r = await ask(ctl, 'CreateVolume', {
      name: 'after-restart', capacity_range: { required_bytes: '1048576' }, parameters: { pool: 'local' },
      volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
    });
    assert.match(r.volume.volume_id, /^local:/);
    assert.ok((await lstat(join(dir, 'pool', 'volumes', 'after-restart'))).isDirectory());
  } finally {
    id.close();
    ctl.close();
    await running.stop();
  }
});
