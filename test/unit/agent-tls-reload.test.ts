// Docs truth (issue 10): cert-manager renews the agent Secret and kubelet swaps the mounted files
// with a symlink swap; the agent and the controller must pick the new certificates up without a
// restart. The directories here are laid out as kubelet projects a Secret (..data symlink).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { LocalBackends } from '../../src/agent/agents.js';
import { RemoteAgent } from '../../src/agent/remote.js';
import { startAgentServer } from '../../src/agent/service.js';
import { readTlsDir } from '../../src/agent/tls.js';
import { stopServer } from '../../src/csi/server.js';
import { local } from '../../src/exec/index.js';
import { waitFor } from '../../src/exec/wait.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { makeCa, makeIdentity } from '../helpers/certs.js';

let dir: string;
/** Two independent PKIs: the "old" one (A) and the renewed one (B). */
const id: Record<string, string> = {};
const servers: grpc.Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poolcsi-tls-reload-'));
  const caA = await makeCa(join(dir, 'ca-a'), 'ca-a');
  const caB = await makeCa(join(dir, 'ca-b'), 'ca-b');
  id.agentA = await makeIdentity(caA, join(dir, 'agent-a'), 'poolcsi-agent');
  id.controllerA = await makeIdentity(caA, join(dir, 'controller-a'), 'poolcsi-controller');
  id.agentB = await makeIdentity(caB, join(dir, 'agent-b'), 'poolcsi-agent');
  id.controllerB = await makeIdentity(caB, join(dir, 'controller-b'), 'poolcsi-controller');
});

after(async () => {
  for (const s of servers) await stopServer({ server: s }, 1000);
  await rm(dir, { recursive: true, force: true });
});

let generation = 0;
/** Points the Secret-like mount `mount` at a copy of `from`, the way kubelet's atomic writer does. */
async function project(mount: string, from: string): Promise<void> {
  const version = `..2026_12_01_${++generation}`;
  await mkdir(mount, { recursive: true });
  await cp(from, join(mount, version), { recursive: true });
  await symlink(version, join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  for (const f of ['ca.crt', 'tls.crt', 'tls.key']) await symlink(join('..data', f), join(mount, f)).catch(() => undefined);
}

async function agentServer(tlsDir: string): Promise<string> {
  const started = await startAgentServer('127.0.0.1:0', await readTlsDir(tlsDir, 100), { nodeId: 'node1', registry: new PoolRegistry(), backends: new LocalBackends(local, 'node1') });
  servers.push(started.server);
  return `127.0.0.1:${started.port}`;
}

async function pings(address: string, tlsDir: string): Promise<boolean> {
  const a = new RemoteAgent('node1', address, await readTlsDir(tlsDir));
  try {
    await a.ping(3000);
    return true;
  } catch {
    return false;
  } finally {
    a.close();
  }
}

test('the agent serves renewed certificates after the Secret mount is swapped', async () => {
  const mount = join(dir, 'agent-mount');
  await project(mount, id.agentA!);
  const address = await agentServer(mount);
  assert.equal(await pings(address, id.controllerA!), true);
  assert.equal(await pings(address, id.controllerB!), false);
  await project(mount, id.agentB!);
  await waitFor(() => pings(address, id.controllerB!), { timeoutMs: 20_000, what: 'the agent to serve the renewed certificate' });
  assert.equal(await pings(address, id.controllerA!), false);
});

test('the controller connects with renewed certificates after its Secret mount is swapped', async () => {
  const address = await agentServer(id.agentA!);
  const mount = join(dir, 'controller-mount');
  await project(mount, id.controllerB!);
  const agent = new RemoteAgent('node1', address, await readTlsDir(mount, 100));
  try {
    await assert.rejects(agent.ping(3000));
    await project(mount, id.controllerA!);
    await waitFor(() => agent.ping(3000).then(() => true), { timeoutMs: 20_000, what: 'the controller to use the renewed certificate', maxIntervalMs: 1000 });
  } finally {
    agent.close();
  }
});

test('a half-renewed directory (key of another certificate) keeps the old certificates', async () => {
  const mount = join(dir, 'half-mount');
  await project(mount, id.agentA!);
  const tls = await readTlsDir(mount, 60_000);
  const mixed = join(dir, 'mixed');
  await cp(id.agentA!, mixed, { recursive: true });
  await cp(join(id.agentB!, 'tls.key'), join(mixed, 'tls.key'));
  await project(mount, mixed);
  assert.equal(await tls.watcher!.check(), false);
  await project(mount, id.agentB!);
  assert.equal(await tls.watcher!.check(), true);
});
