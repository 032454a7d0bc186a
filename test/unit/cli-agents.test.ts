// Issue 17: the admin commands on the controller side reach a node-local pool through the
// node's agent (mutual TLS), as the controller does: a real agent server for node-b serving a
// dir pool, the commands run as node-a with --agents.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { execa } from 'execa';
import { LocalBackends } from '../../src/agent/agents.js';
import { startAgentServer } from '../../src/agent/service.js';
import { readTlsDir } from '../../src/agent/tls.js';
import { stopServer } from '../../src/csi/server.js';
import { local } from '../../src/exec/index.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { parsePools } from '../../src/pools/validate.js';
import { makeAgentPki, type AgentPki } from '../helpers/certs.js';

const MAIN = new URL('../../src/cli/main.cjs', import.meta.url).pathname;
let dir: string;
let pki: AgentPki;
let server: Server;
let agents: string;
let file: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-agents-'));
  pki = await makeAgentPki(join(dir, 'pki'));
  await mkdir(join(dir, 'pool'));
  file = join(dir, 'pools.yaml');
  const text = `pools:\n  - {id: far, type: dir, path: ${join(dir, 'pool')}, quota: 'off', nodes: [node-b]}\n`;
  await writeFile(file, text);
  const registry = new PoolRegistry();
  registry.update(parsePools(text));
  const started = await startAgentServer('127.0.0.1:0', await readTlsDir(pki.agent), { nodeId: 'node-b', registry, backends: new LocalBackends(local, 'node-b') });
  server = started.server;
  agents = `node-b=127.0.0.1:${started.port}`;
});

after(async () => {
  if (server) await stopServer({ server }, 1000);
  await rm(dir, { recursive: true, force: true });
});

/** The CLI as node-a, the controller side. */
const run = (...args: string[]) => execa('node', [MAIN, ...args], { reject: false, env: { POOLCSI_POOLS_FILE: file, NODE_ID: 'node-a' } });
const via = () => ['--agents', agents, '--agent-tls-dir', pki.controller];

test('with --agents, node-a allocates, lists, reads and frees a node-b pool through its agent', async () => {
  // Without --agents node-a cannot reach it, and says how to.
  const plain = await run('pools', 'status');
  assert.equal(plain.exitCode, 0, plain.stderr);
  assert.match(plain.stdout, /node-local pool not on this node \(node-a\); run this on one of: node-b, or with --agents/);
  // Several nodes could hold it: the node is named as the CO's topology would.
  const alloc = await run('volumes', 'alloc', '--pool', 'far', '--name', 'pvc-1', '--size', '1Mi', '--node', 'node-b', '--json', ...via());
  assert.equal(alloc.exitCode, 0, alloc.stderr);
  const v = JSON.parse(alloc.stdout);
  assert.equal(v.volume_id, 'far:pvc-1');
  assert.deepEqual(v.accessible_topology, [{ segments: { 'topology.poolcsi.io/node': 'node-b' } }]);
  assert.ok((await readdir(join(dir, 'pool', 'volumes'))).includes('pvc-1'), 'the agent made it');
  const list = await run('volumes', 'list', '--pool', 'far', '--json', ...via());
  assert.equal(list.exitCode, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).volumes.map((r: { name: string }) => r.name), ['pvc-1']);
  const here = await run('volumes', 'list', '--pool', 'far');
  assert.equal(here.exitCode, 1);
  assert.match(here.stderr, /^poolcsi: pool "far" has no node reachable from here/);
  const status = await run('pools', 'status', '--json', ...via());
  assert.equal(status.exitCode, 0, status.stderr);
  const far = JSON.parse(status.stdout).pools[0];
  assert.equal(far.reachable, true);
  assert.deepEqual(far.nodes, ['node-b']);
  assert.equal(far.volumes, 1);
  assert.equal(far.perNode[0].node, 'node-b');
  assert.equal(far.perNode[0].availableBytes, far.availableBytes);
  const info = await run('volumes', 'info', 'far:pvc-1', '--json', ...via());
  assert.equal(info.exitCode, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).node, 'node-b');
  const free = await run('volumes', 'free', 'far:pvc-1', ...via());
  assert.equal(free.exitCode, 0, free.stderr);
  assert.equal(free.stdout, 'deleted far:pvc-1');
  assert.ok(!(await readdir(join(dir, 'pool', 'volumes'))).includes('pvc-1'));
});

test('an agent that does not answer: status notes it (exit 0), a volume call fails with one line (exit 1)', async () => {
  const down = ['--agents', 'node-b=127.0.0.1:1', '--agent-tls-dir', pki.controller];
  const s = await run('pools', 'status', '--json', ...down);
  assert.equal(s.exitCode, 0, s.stderr);
  const far = JSON.parse(s.stdout).pools[0];
  assert.equal(far.reachable, false);
  assert.match(far.notes[0], /^node-b: unreachable: agent on node node-b is unreachable/);
  const i = await run('volumes', 'info', 'far:pvc-1', ...down);
  assert.equal(i.exitCode, 1);
  assert.match(i.stderr, /^poolcsi: cannot tell whether pvc-1 exists in pool "far": node\(s\) node-b .*did not answer/);
  assert.equal(i.stderr.split('\n').length, 1, 'one line');
});

test('--agents flags: usage errors exit 2', async () => {
  for (const args of [['--agents', agents], ['--agent-tls-dir', pki.controller], ['--agents', 'node-b', '--agent-tls-dir', pki.controller]]) {
    const r = await run('pools', 'status', ...args);
    assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^poolcsi: --agent/);
  }
  const r = await run('pools', 'status', '--agents', agents, '--agent-tls-dir', join(dir, 'missing'));
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /--agent-tls-dir .*missing: cannot read (ca\.crt|tls\.crt|tls\.key) \(ENOENT\)/);
});
