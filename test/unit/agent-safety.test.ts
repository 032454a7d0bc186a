// issue 10 through the agent protocol, with a real agent server (mutual TLS) and a dir pool:
//  - item 10: a controller's hostile arguments are refused at the agent, nothing outside the
//    pool's volumes is touched;
//  - item 5: a single-node volume published to one node is not published to a second;
//  - item 8: ControllerUnpublishVolume with the volume's agent down is UNAVAILABLE, not OK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { LocalBackends } from '../../src/agent/agents.js';
import { RemoteAgent } from '../../src/agent/remote.js';
import { startAgentServer } from '../../src/agent/service.js';
import { readTlsDir } from '../../src/agent/tls.js';
import { StorageError } from '../../src/backends/errors.js';
import { stopServer } from '../../src/csi/server.js';
import { local } from '../../src/exec/index.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { parsePools } from '../../src/pools/validate.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';
import { MOUNT_CAP, rejectsWith, startPoolcsi } from './helpers.js';

let dir: string;
let pki: AgentPki;
let server: grpc.Server | undefined;
let address: string;
const registry = new PoolRegistry();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poolcsi-agent-safety-'));
  pki = await makeAgentPki(join(dir, 'pki'));
  await mkdir(join(dir, 'pool'));
  registry.update(parsePools(`pools:\n  - {id: d, type: dir, path: ${join(dir, 'pool')}, quota: 'off', nodes: [node-b]}\n`));
  const started = await startAgentServer('127.0.0.1:0', await readTlsDir(pki.agent), { nodeId: 'node-b', registry, backends: new LocalBackends(local, 'node-b') });
  server = started.server;
  address = `127.0.0.1:${started.port}`;
});

after(async () => {
  if (server) await stopServer({ server }, 1000);
  await rm(dir, { recursive: true, force: true });
});

const spec = (over: object = {}) => ({ name: 'v1', requestName: 'v1', sizeBytes: 1024, limitBytes: 0, mode: 'filesystem', params: {}, ...over });

test('item 10: the agent refuses hostile arguments before any backend sees them', async () => {
  const agent = new RemoteAgent('node-b', address, await readTlsDir(pki.controller));
  const canary = join(dir, 'pool', 'canary');
  await mkdir(canary, { recursive: true });
  await writeFile(join(canary, 'keep'), 'x');
  const hostile: Array<[Parameters<RemoteAgent['call']>[1], unknown[]]> = [
    ['deleteVolume', ['../canary']],
    ['deleteVolume', ['../../etc']],
    ['deleteVolume', ['/etc']],
    ['deleteVolume', [5]],
    ['deleteVolume', ['v1', 'extra']],
    ['deleteSnapshot', ['..', 'canary']],
    ['deleteSnapshot', ['v1', '../../canary']],
    ['createVolume', [spec({ name: '../canary2' })]],
    ['createVolume', [spec({ sizeBytes: 1e308 })]],
    ['createVolume', [spec({ sizeBytes: -1 })]],
    ['createVolume', [spec({ sizeBytes: '1024' })]],
    ['createVolume', [spec({ mode: 'raw' })]],
    ['createVolume', [spec({ source: { kind: 'volume', volume: '/etc' } })]],
    ['createVolume', [spec({ source: { kind: 'snapshot', volume: 'v0', snapshot: '../../x' } })]],
    ['createVolume', [spec({ params: { 'a/b': 'x' } })]],
    ['createVolume', [spec({ requestName: 'a\u001b[31m' })]],
    ['createVolume', [spec({ surprise: true })]],
    ['createVolume', ['v1']],
    ['expandVolume', ['v1', Number.MAX_VALUE, 0]],
    ['createSnapshot', ['v1', '../s', 'r']],
    ['publish', ['v1', '../node', { readonly: false, multiNode: false }]],
    ['publish', ['v1', 'node-b', { readonly: 'no', multiNode: false }]],
    ['unpublish', ['v1', 'Node_B']],
    ['getVolume', [{ name: 'v1' }]],
  ];
  try {
    for (const [method, args] of hostile) {
      await assert.rejects(agent.call('d', method, args), (e) => e instanceof StorageError && e.kind === 'invalid',
        `${method}(${JSON.stringify(args)}) must be refused as invalid`);
    }
    assert.ok(existsSync(join(canary, 'keep')), 'the directory next to volumes/ is untouched');
    assert.equal(existsSync(join(dir, 'pool', 'canary2')), false);
    assert.equal(existsSync(join(dir, 'pool', 'canary2.json')), false);
    // Well-formed calls still work, including unpublish's absent node.
    await agent.call('d', 'createVolume', [spec()]);
    await agent.call('d', 'unpublish', ['v1', null]);
    await agent.call('d', 'deleteVolume', ['v1']);
  } finally {
    agent.close();
  }
});

test('item 5: a single-node volume published to one node is FAILED_PRECONDITION on a second', async () => {
  const agent = new RemoteAgent('node-b', address, await readTlsDir(pki.controller));
  try {
    const b = agent.backend(registry.get('d')!.pool);
    await b.createVolume({ name: 'v5', requestName: 'v5', sizeBytes: 1024, limitBytes: 0, mode: 'filesystem', params: {} });
    await b.publish('v5', 'node-b', { readonly: false, multiNode: false });
    await assert.rejects(b.publish('v5', 'node-c', { readonly: false, multiNode: false }),
      (e) => e instanceof StorageError && e.kind === 'precondition' && /published to node node-b/.test(e.message));
    await b.publish('v5', 'node-b', { readonly: false, multiNode: false }); // the same node again is fine
    assert.deepEqual(Object.keys((await b.getVolume('v5'))?.published ?? {}), ['node-b'], 'the record is unchanged');
    await b.unpublish('v5', 'node-b');
    await b.publish('v5', 'node-c', { readonly: false, multiNode: false });
    await b.deleteVolume('v5');
  } finally {
    agent.close();
  }
});

test('item 8: ControllerUnpublishVolume answers UNAVAILABLE when the volume\'s agent is down', async () => {
  const h = await startPoolcsi({
    mode: 'controller',
    pools: () => `pools:\n  - {id: d, type: dir, path: ${join(dir, 'pool')}, quota: 'off', nodes: [node-b]}\n`,
    extra: { agents: `node-b=${address}`, agentTlsDir: pki.controller },
  });
  try {
    const topo = { requisite: [{ segments: { 'topology.poolcsi.io/node': 'node-b' } }], preferred: [{ segments: { 'topology.poolcsi.io/node': 'node-b' } }] };
    const v = await h.controller('CreateVolume', { name: 'v8', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'd' }, accessibility_requirements: topo });
    await h.controller('ControllerPublishVolume', { volume_id: v.volume.volume_id, node_id: 'node-b', volume_capability: MOUNT_CAP });
    await stopServer({ server: server! }, 1000);
    server = undefined;
    const msg = await rejectsWith(h.controller('ControllerUnpublishVolume', { volume_id: v.volume.volume_id, node_id: 'node-b' }), grpc.status.UNAVAILABLE);
    assert.match(msg, /node-b/);
  } finally {
    await h.stop();
  }
});
