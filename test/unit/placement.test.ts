// Placement rules: a node-local volume is "nowhere" only when every candidate node answered;
// a candidate that cannot be asked makes the answer UNAVAILABLE. The router is tested against a
// real agent server (dir pool, mutual TLS) and an agent address where nothing listens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { LocalBackends } from '../../src/agent/agents.js';
import { startAgentServer } from '../../src/agent/service.js';
import { readTlsDir } from '../../src/agent/tls.js';
import { StorageError } from '../../src/backends/errors.js';
import { stopServer } from '../../src/csi/server.js';
import { local } from '../../src/exec/index.js';
import { StaticAgentDirectory, type AgentDirectory } from '../../src/placement/directory.js';
import { VolumeLocator } from '../../src/placement/locator.js';
import { Router } from '../../src/placement/router.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import type { Pool } from '../../src/pools/schema.js';
import { parsePools } from '../../src/pools/validate.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';

const unavailable = (re: RegExp) => (e: unknown) => e instanceof StorageError && e.kind === 'unavailable' && re.test(e.message);

/** A directory of names only: the locator rules do not depend on how a node is asked. */
function names(ready: string[], known: string[]): AgentDirectory {
  return { forNode: () => undefined, nodes: () => ready, known: () => known };
}
const lvmPool = (nodes?: string[]) => ({ id: 'p', type: 'lvm', vgname: 'vg', ...(nodes ? { nodes } : {}) }) as unknown as Pool;

test('locator: a candidate that cannot be asked makes "not found" UNAVAILABLE', async () => {
  const l = new VolumeLocator(names(['a'], ['a', 'b']));
  const probe = async (n: string) => { if (n === 'b') throw new StorageError('unavailable', 'agent on node b is unreachable'); return false; };
  await assert.rejects(l.locate(lvmPool(), 'v1', probe), unavailable(/node\(s\) b \(agent on node b is unreachable\) did not answer, and it is not on a/));
});

test('locator: every candidate answered → not found; found anywhere → that node, even with another node down', async () => {
  const l = new VolumeLocator(names(['a', 'b'], ['a', 'b', 'c']));
  assert.equal(await l.locate(lvmPool(), 'v1', async () => false), undefined);
  assert.equal(await l.locate(lvmPool(), 'v1', async (n) => { if (n === 'c') throw new Error('down'); return n === 'b'; }), 'b');
  // Any failure counts as "did not answer", not only 'unavailable' (a broken VG, a refused call).
  await assert.rejects(l.locate(lvmPool(), 'v2', async (n) => { if (n === 'a') throw new StorageError('internal', 'lvs crashed'); return false; }), unavailable(/a \(lvs crashed\)/));
});

test('locator: candidates are the pool\'s nodes, else every known node (NotReady included); none known is UNAVAILABLE', async () => {
  const l = new VolumeLocator(names(['a'], ['a', 'b']));
  assert.deepEqual(l.candidates(lvmPool()), ['a', 'b']);
  assert.deepEqual(l.candidates(lvmPool(['b', 'z'])), ['b', 'z'], 'a listed node is asked even when no agent is known for it');
  assert.deepEqual(l.placeable(lvmPool()), ['a'], 'new volumes go only where an agent is ready');
  assert.deepEqual(l.placeable(lvmPool(['b', 'a'])), ['a']);
  const asked: string[] = [];
  assert.equal(await l.locate(lvmPool(['a']), 'v', async (n) => { asked.push(n); return false; }), undefined);
  assert.deepEqual(asked, ['a'], 'nodes outside the pool\'s list are not asked');
  await assert.rejects(new VolumeLocator(names([], [])).locate(lvmPool(), 'v', async () => false), unavailable(/no node is known/));
});

test('locator: a cached node is asked again before it is believed', async () => {
  const l = new VolumeLocator(names(['a', 'b'], ['a', 'b']));
  l.remember('p', 'v1', 'a');
  const asked: string[] = [];
  assert.equal(await l.locate(lvmPool(), 'v1', async (n) => { asked.push(n); return n === 'b'; }), 'b', 'the volume moved (or the cache was wrong)');
  assert.equal(asked[0], 'a');
  asked.length = 0;
  assert.equal(await l.locate(lvmPool(), 'v1', async (n) => { asked.push(n); return n === 'b'; }), 'b');
  assert.deepEqual(asked, ['b'], 'a verified hit asks only that node');
});

// The router against a real agent (node1) and a node whose agent is down (node2).
let dir: string;
let pki: AgentPki;
let server: grpc.Server;
let address: string;
const agentPools = new PoolRegistry();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poolcsi-placement-'));
  pki = await makeAgentPki(join(dir, 'pki'));
  await mkdir(join(dir, 'pool'));
  await mkdir(join(dir, 'gone'));
  agentPools.update(parsePools(`pools:\n  - {id: d, type: dir, path: ${join(dir, 'pool')}, quota: 'off'}\n`));
  const started = await startAgentServer('127.0.0.1:0', await readTlsDir(pki.agent), { nodeId: 'node1', registry: agentPools, backends: new LocalBackends(local, 'node1') });
  server = started.server;
  address = `127.0.0.1:${started.port}`;
});

after(async () => {
  await stopServer({ server }, 1000);
  await rm(dir, { recursive: true, force: true });
});

const spec = (name: string) => ({ name, requestName: name, sizeBytes: 1024, limitBytes: 0, mode: 'filesystem' as const, params: {} });

test('router: with node2\'s agent down, an existing volume is found, an unknown one is UNAVAILABLE, a delete target list refuses', async () => {
  const tls = await readTlsDir(pki.controller);
  const both = new StaticAgentDirectory({ node1: address, node2: '127.0.0.1:1' }, tls);
  const onlyNode1 = new StaticAgentDirectory({ node1: address }, tls);
  const pool = agentPools.get('d')!.pool;
  try {
    const router = new Router(both, new LocalBackends(local, 'ctl'));
    const made = router.forCreate(pool, ['node1']);
    await made.backend.createVolume(spec('v1'));
    assert.equal((await router.forExisting(pool, 'v1'))?.node, 'node1', 'found on node1 although node2 is down');
    await assert.rejects(router.forExisting(pool, 'nope'), unavailable(/node2 .*did not answer, and it is not on node1/));
    await assert.rejects(router.forSnapshot(pool, 'nope', 's'), unavailable(/node2/));
    await assert.rejects((async () => { for (const r of router.everyCandidate(pool)) await r.backend.deleteVolume('nope'); })(), unavailable(/node2/));
    // Lists are partial: node2 is left out, node1's volume is listed.
    const listed = await router.gather(pool, (b) => b.listVolumes());
    assert.deepEqual(listed.map((l) => [l.routed.node, l.value.map((v) => v.name)]), [['node1', ['v1']]]);

    // Once every candidate answers, "not found" is believed.
    const all = new Router(onlyNode1, new LocalBackends(local, 'ctl'));
    assert.equal(await all.forExisting(pool, 'nope'), undefined);
    await (await all.forExisting(pool, 'v1'))!.backend.deleteVolume('v1');
    assert.equal(await all.forExisting(pool, 'v1'), undefined);
  } finally {
    both.close();
    onlyNode1.close();
  }
});

test('router: a pool the controller serves as retired reaches the agent with its definition', async () => {
  const tls = await readTlsDir(pki.controller);
  const d = new StaticAgentDirectory({ node1: address }, tls);
  const gone = parsePools(`pools:\n  - {id: gone, type: dir, path: ${join(dir, 'gone')}, quota: 'off'}\n`).pools[0]!;
  try {
    // The agent does not define "gone" (its node restarted after the pool left the list).
    await assert.rejects(new Router(d, new LocalBackends(local, 'ctl')).forExisting(gone, 'x'), unavailable(/not defined on node node1/));
    const router = new Router(d, new LocalBackends(local, 'ctl'), (id) => id === 'gone');
    await router.onNode(gone, 'node1').backend.createVolume(spec('old-1'));
    assert.equal((await router.forExisting(gone, 'old-1'))?.node, 'node1');
    await (await router.forExisting(gone, 'old-1'))!.backend.deleteVolume('old-1');
    await assert.rejects(stat(join(dir, 'gone', 'volumes', 'old-1')), /ENOENT/);
    assert.equal(await router.forExisting(gone, 'old-1'), undefined);
  } finally {
    d.close();
  }
});
