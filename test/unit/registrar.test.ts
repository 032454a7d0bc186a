// `poolcsi registrar` and `poolcsi health`, the chart's default stand-ins for
// node-driver-registrar and livenessprobe, driven the way the kubelet drives them: a client
// of the kubelet's pluginregistration v1 on the socket the registrar puts in plugins_registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadRegistration } from '../../src/csi/registration.js';
import { waitFor } from '../../src/exec/wait.js';
import { startPoolcsi, type Harness } from './helpers.js';

const MAIN = new URL('../../src/cli/main.cjs', import.meta.url).pathname;
let h: Harness;
before(async () => { h = await startPoolcsi({ mode: 'node' }); });
after(async () => { await h.stop(); });

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function run(args: string[]): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited };
}

function call(client: grpc.Client, method: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Function>)[method]!.call(client, req, { deadline: Date.now() + 5000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)));
  });
}

async function healthz(port: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  return r.status;
}

test('registrar: the kubelet gets the driver name and host socket; a refusal stops the registrar', async () => {
  const regDir = join(h.dir, 'plugins_registry');
  const port = await freePort();
  const { child, exited } = run(['registrar', `--csi-address=${h.socket}`, '--kubelet-registration-path=/var/lib/kubelet/plugins/poolcsi.io/csi.sock',
    `--registration-dir=${regDir}`, `--http-endpoint=127.0.0.1:${port}`, '--log-level=silent']);
  try {
    const sock = join(regDir, 'poolcsi.io-reg.sock');
    await waitFor(() => existsSync(sock), { timeoutMs: 90_000, what: 'the registration socket' });
    const Registration = loadRegistration();
    const client = new Registration(`unix://${sock}`, grpc.credentials.createInsecure());
    const info = await call(client, 'GetInfo', {});
    assert.deepEqual({ ...info }, { type: 'CSIPlugin', name: 'poolcsi.io', endpoint: '/var/lib/kubelet/plugins/poolcsi.io/csi.sock', supported_versions: ['1.0.0'] });
    await call(client, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
    assert.equal(await waitFor(async () => (await healthz(port)) === 200 || undefined, { timeoutMs: 60_000, what: 'healthz 200' }), true);
    await call(client, 'NotifyRegistrationStatus', { plugin_registered: false, error: 'version mismatch' });
    client.close();
    assert.equal(await exited, 1);
    assert.equal(existsSync(sock), false, 'the registration socket is removed when the registrar ends');
  } finally {
    child.kill('SIGKILL');
  }
});

test('health: /healthz is the driver\'s CSI Probe', async () => {
  const port = await freePort();
  const { child, exited } = run(['health', `--csi-address=${h.socket}`, `--http-endpoint=127.0.0.1:${port}`]);
  try {
    assert.equal(await waitFor(async () => (await healthz(port).catch(() => 0)) === 200 || undefined, { timeoutMs: 90_000, what: 'healthz 200' }), true);
    const dead = await freePort();
    const other = run(['health', `--csi-address=${join(h.dir, 'no-such.sock')}`, `--http-endpoint=127.0.0.1:${dead}`, '--probe-timeout-seconds=1']);
    try {
      assert.equal(await waitFor(async () => { const s = await healthz(dead).catch(() => 0); return s === 500 || undefined; }, { timeoutMs: 90_000, what: 'healthz 500' }), true);
    } finally { other.child.kill('SIGTERM'); await other.exited; }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
