// The agent protocol end to end on localhost: a real agent server with mutual TLS, a dir pool
// behind it, and the controller's RemoteBackend in front. No root needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { LocalBackends } from '../../src/agent/agents.js';
import { RemoteAgent } from '../../src/agent/remote.js';
import { parseAgentMap, StaticAgentDirectory } from '../../src/placement/directory.js';
import { startAgentServer } from '../../src/agent/service.js';
import { readTlsDir } from '../../src/agent/tls.js';
import { StorageError } from '../../src/backends/errors.js';
import { stopServer } from '../../src/csi/server.js';
import { local } from '../../src/exec/index.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { parsePools } from '../../src/pools/validate.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';

let dir: string;
let pki: AgentPki;
let server: grpc.Server;
let address: string;
const registry = new PoolRegistry();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poolcsi-agent-'));
  pki = await makeAgentPki(join(dir, 'pki'));
  registry.update(parsePools(`pools:\n  - {id: d, type: dir, path: ${join(dir, 'pool')}, quota: 'off'}\n  - {id: elsewhere, type: dir, path: /nonexistent, nodes: [node9]}\n`));
  await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'pool')));
  const started = await startAgentServer('127.0.0.1:0', await readTlsDir(pki.agent), { nodeId: 'node1', registry, backends: new LocalBackends(local, 'node1') });
  server = started.server;
  address = `127.0.0.1:${started.port}`;
});

after(async () => {
  await stopServer({ server }, 1000);
  await rm(dir, { recursive: true, force: true });
});

const pool = () => registry.get('d')!.pool;

test('the controller calls a node\'s backend through the agent; results and errors come back', async () => {
  const agent = new RemoteAgent('node1', address, await readTlsDir(pki.controller));
  try {
    assert.deepEqual(await agent.ping(), { node: 'node1', version: (await agent.ping()).version });
    const b = agent.backend(pool());
    const rec = await b.createVolume({ name: 'v1', requestName: 'v1', sizeBytes: 1024, limitBytes: 0, mode: 'filesystem', params: {} });
    assert.equal(rec.name, 'v1');
    assert.equal(rec.node, 'node1');
    assert.equal((await b.getVolume('v1'))?.name, 'v1');
    assert.equal(await b.getVolume('nope'), undefined);
    assert.deepEqual((await b.listVolumes()).map((v) => v.name), ['v1']);
    await b.publish('v1', 'node1', { readonly: false, multiNode: false });
    await assert.rejects(b.publish('v1', 'node1', { readonly: true, multiNode: false }), (e) => e instanceof StorageError && e.kind === 'exists');
    await b.unpublish('v1');
    assert.equal((await b.getVolume('v1'))?.published?.node1, undefined);
    await assert.rejects(b.expandVolume('nope', 10, 0), (e) => e instanceof StorageError && e.kind === 'not-found');
    await b.deleteVolume('v1');
    assert.equal(await b.getVolume('v1'), undefined);
    // A pool that does not exist on that node is refused by the agent itself.
    await assert.rejects(agent.backend(registry.get('elsewhere')!.pool).listVolumes(), (e) => e instanceof StorageError && e.kind === 'not-found');
  } finally {
    agent.close();
  }
});

test('a client certificate from another CA is refused at the TLS handshake', async () => {
  const agent = new RemoteAgent('node1', address, await readTlsDir(pki.wrongCa));
  try {
    await assert.rejects(agent.backend(pool()).listVolumes(), (e) => e instanceof StorageError && e.kind === 'unavailable');
  } finally {
    agent.close();
  }
});

test('a certificate of the right CA that does not name the controller is refused', async () => {
  const agent = new RemoteAgent('node1', address, await readTlsDir(pki.wrongName));
  try {
    await assert.rejects(agent.backend(pool()).listVolumes(), (e) => e instanceof StorageError && /refused the controller.*poolcsi-controller/.test(e.message));
  } finally {
    agent.close();
  }
});

test('an agent that is down is UNAVAILABLE, not a hang', async () => {
  const agent = new RemoteAgent('node2', '127.0.0.1:1', await readTlsDir(pki.controller));
  try {
    await assert.rejects(agent.ping(5000), (e) => e instanceof StorageError && e.kind === 'unavailable');
  } finally {
    agent.close();
  }
});

test('--agents parses NODE=HOST:PORT lists', async () => {
  assert.deepEqual(parseAgentMap('w1=10.0.0.1:9810, w2=host.example:1'), { 'w1': '10.0.0.1:9810', 'w2': 'host.example:1' });
  assert.throws(() => parseAgentMap('w1=10.0.0.1'), /NODE=HOST:PORT/);
  assert.throws(() => parseAgentMap('w1=a:1,w1=b:2'), /twice/);
  const d = new StaticAgentDirectory({ w1: '127.0.0.1:1' }, await readTlsDir(pki.controller));
  assert.deepEqual(d.nodes(), ['w1']);
  assert.equal(d.forNode('w2'), undefined);
  d.close();
});

test('--agents nodes:PORT: each Ready Kubernetes Node\'s InternalIP', async () => {
  const { KubeNodeAgentDirectory, nodeAgentAddress, parseNodesPort } = await import('../../src/placement/nodes.js');
  const { createLogger } = await import('../../src/observe/log.js');
  assert.equal(parseNodesPort('nodes:9825'), 9825);
  assert.equal(parseNodesPort('w1=a:1'), undefined);
  assert.throws(() => parseNodesPort('nodes:70000'), /out of range/);
  const node = (name: string, ip: string | undefined, ready: boolean) => ({
    metadata: { name },
    status: {
      addresses: ip ? [{ type: 'Hostname', address: name }, { type: 'InternalIP', address: ip }] : [],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  });
  assert.equal(nodeAgentAddress(node('w1', '10.0.0.1', true), 9825), '10.0.0.1:9825');
  assert.equal(nodeAgentAddress(node('w1', 'fd00::1', true), 9825), '[fd00::1]:9825');
  assert.equal(nodeAgentAddress(node('w1', '10.0.0.1', false), 9825), '10.0.0.1:9825', 'a NotReady node\'s agent may still answer');
  assert.equal(nodeAgentAddress(node('w1', undefined, true), 9825), undefined);
  const d = new KubeNodeAgentDirectory(9825, await readTlsDir(pki.controller), createLogger({ level: 'silent' }));
  d.apply(node('w1', '10.0.0.1', true));
  d.apply(node('w2', '10.0.0.2', false));
  d.apply(node('w3', undefined, true));
  assert.deepEqual(d.nodes(), ['w1'], 'only Ready nodes with an address take new volumes');
  assert.deepEqual(d.known().sort(), ['w1', 'w2', 'w3'], 'NotReady and addressless nodes stay candidates for existing volumes');
  assert.equal(d.forNode('w3'), undefined);
  d.apply(node('w2', '10.0.0.2', true));
  d.apply(node('w1', '10.0.0.1', true), true);
  assert.deepEqual(d.nodes(), ['w2']);
  assert.deepEqual(d.known().sort(), ['w2', 'w3'], 'a deleted Node is no longer a candidate');
  assert.equal((d.forNode('w2') as RemoteAgent).address, '10.0.0.2:9825');
  d.close();
});

test('an agent that does not answer (a silent peer) is UNAVAILABLE within the connect bound; a refused one at once', async () => {
  const { createServer } = await import('node:net');
  const { CONNECT_MS } = await import('../../src/agent/remote.js');
  // Accepts TCP and never speaks TLS: the channel stays connecting, as with a node cut off.
  const sockets: import('node:net').Socket[] = [];
  const silent = createServer((s) => { sockets.push(s); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as { port: number }).port;
  const tls = await readTlsDir(pki.controller);
  const mute = new RemoteAgent('node7', `127.0.0.1:${port}`, tls);
  try {
    const t0 = Date.now();
    await assert.rejects(mute.backend(pool()).capacity(), (e: unknown) => e instanceof StorageError && e.kind === 'unavailable' && /no connection .* within/.test(e.message));
    const took = Date.now() - t0;
    assert.ok(took >= CONNECT_MS - 200 && took < CONNECT_MS + 3000, `answered after ${took} ms`);
  } finally {
    mute.close();
    for (const s of sockets) s.destroy();
    silent.close();
  }
  // Nothing listens on the silent server's port any more: refused, answered without the wait.
  const gone = new RemoteAgent('node7', `127.0.0.1:${port}`, tls);
  try {
    const t0 = Date.now();
    await assert.rejects(gone.backend(pool()).capacity(), (e: unknown) => e instanceof StorageError && e.kind === 'unavailable');
    assert.ok(Date.now() - t0 < CONNECT_MS, `refused, yet answered after ${Date.now() - t0} ms`);
  } finally {
    gone.close();
  }
});
