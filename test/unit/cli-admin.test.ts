// Issue 17: the admin commands against a real dir pool in a temporary directory (quota: off,
// so no root is needed): argument handling, exit codes, tables and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createBackend } from '../../src/backends/index.js';
import { call, loadRegistry, localDriver } from '../../src/cli/local.js';
import { poolStatus } from '../../src/cli/pools-status.js';
import { local } from '../../src/exec/index.js';
import { writeStash } from '../../src/node/stash.js';

const MAIN = new URL('../../src/cli/main.cjs', import.meta.url).pathname;
const NODE = 'n1';

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'cli-admin-'));
  await mkdir(join(dir, 'pool'));
  const file = join(dir, 'pools.yaml');
  await writeFile(file, `pools:\n  - {id: local, type: dir, path: ${join(dir, 'pool')}, quota: 'off'}\n  - {id: far, type: lvmthin, vgname: vg0, thinpool: tp, nodes: [other]}\n`);
  const kubelet = join(dir, 'kubelet');
  const env = { POOLCSI_POOLS_FILE: file, NODE_ID: NODE };
  const run = (...args: string[]) => execa('node', [MAIN, ...args], { reject: false, env, stripFinalNewline: false });
  return { dir, file, kubelet, run };
}

test('pools status: table and JSON; capacity is what GetCapacity adds up; a pool of another node says so', async () => {
  const { file, run } = await setup();
  assert.equal((await run('volumes', 'alloc', '--pool', 'local', '--name', 'pvc-a', '--size', '10Mi')).exitCode, 0);
  const t = await run('pools', 'status');
  assert.equal(t.exitCode, 0, t.stderr);
  assert.match(t.stdout, /^POOL\s+TYPE\s+STATE\s+NODES\s+TOTAL\s+USED\s+AVAILABLE\s+VOLUMES\s+IDENTITY$/m);
  assert.match(t.stdout, /^local\s+dir\s+active\s+n1\s+\S+ \S+\s+\S+ \S+\s+\S+ \S+\s+1\s+path=\/.*\/pool$/m);
  assert.match(t.stdout, /^far\s+lvmthin\s+active\s+other\s+-\s+-\s+-\s+-\s+vgname=vg0 thinpool=tp$/m);
  assert.match(t.stdout, /^far\s+node-local pool not on this node \(n1\); run this on one of: other, or with --agents$/m);
  const j = JSON.parse((await run('pools', 'status', '--json')).stdout);
  const localPool = j.pools.find((p: { id: string }) => p.id === 'local');
  assert.equal(localPool.volumes, 1);
  assert.equal(localPool.reachable, true);
  assert.equal(localPool.usedBytes, localPool.totalBytes - localPool.availableBytes);
  // The same number GetCapacity answers (the free space may move a little between the calls).
  const driver = localDriver(await loadRegistry({ poolsFile: file }), NODE);
  const cap = await call(driver.controller, 'GetCapacity', { parameters: { pool: 'local' } });
  const st = await poolStatus(driver, driver.ctx.registry.get('local')!);
  assert.ok(Math.abs(Number(cap.available_capacity) - st.availableBytes!) < 64 * 2 ** 20, `${cap.available_capacity} vs ${st.availableBytes}`);
  assert.equal(st.maxVolumeBytes !== undefined, true);
  assert.equal((await run('pools', 'status', '--bogus')).exitCode, 2);
  assert.equal((await run('pools', 'status', '--pools-file', '/nonexistent/pools.yaml')).exitCode, 1);
});

test('volumes alloc: the volume CreateVolume makes; id, JSON, static PV; usage exit 2, refusals exit 1', async () => {
  const { file, run } = await setup();
  const a = await run('volumes', 'alloc', '--pool', 'local', '--name', 'pvc-b', '--size', '20Mi', '--param', 'mountOptions=noatime');
  assert.equal(a.exitCode, 0, a.stderr);
  assert.equal(a.stdout, 'local:pvc-b\n');
  // Idempotent like CreateVolume, and the JSON is CreateVolume's own answer.
  const j = JSON.parse((await run('volumes', 'alloc', '--pool', 'local', '--name', 'pvc-b', '--size', '20Mi', '--param', 'mountOptions=noatime', '--json')).stdout);
  const driver = localDriver(await loadRegistry({ poolsFile: file }), NODE);
  const csi = await call(driver.controller, 'CreateVolume', {
    name: 'pvc-b', parameters: { pool: 'local', mountOptions: 'noatime' }, capacity_range: { required_bytes: String(20 * 2 ** 20) },
    volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
  });
  assert.deepEqual(j, JSON.parse(JSON.stringify(csi.volume)));
  assert.equal(j.volume_context.mountOptions, 'noatime');
  // A name CreateVolume would hash gets the same derived name.
  const odd = await run('volumes', 'alloc', '--pool', 'local', '--name', 'Odd Name!', '--size', '1Mi');
  assert.match(odd.stdout, /^local:Odd-Name--[0-9a-f]{16}\n$/);
  const pv = await run('volumes', 'alloc', '--pool', 'local', '--name', 'pv-c', '--size', '1G', '--pv');
  assert.equal(pv.exitCode, 0, pv.stderr);
  assert.match(pv.stdout, /^kind: PersistentVolume$/m);
  assert.match(pv.stdout, /^ {4}driver: "poolcsi.io"$/m);
  assert.match(pv.stdout, /^ {4}volumeHandle: "local:pv-c"$/m);
  assert.match(pv.stdout, /^ {6}"transport": "bind"$/m);
  assert.match(pv.stdout, /^ {4}storage: "1000000000"$/m);
  assert.match(pv.stdout, /values: \["n1"\]/);
  for (const bad of [['--pool', 'local', '--name', 'x'], ['--pool', 'local', '--name', 'x', '--size', '1Gx'],
    ['--pool', 'local', '--name', 'x', '--size', '1', '--param', 'pool=y'], ['--pool', 'local', '--name', 'x', '--size', '1', '--mode', 'tape'],
    ['--pool', 'local', '--name', 'Not_A_PV', '--size', '1', '--pv']]) {
    const r = await run('volumes', 'alloc', ...bad);
    assert.equal(r.exitCode, 2, bad.join(' '));
    assert.match(r.stderr, /^poolcsi: /);
  }
  for (const [args, why] of [
    [['--mode', 'block'], /serves filesystem volumes, not block/],
    [['--param', 'fsType=xfs'], /unknown parameter\(s\) "fsType"/],
    [['--pool', 'nope'], /unknown pool "nope"/],
  ] as const) {
    const r = await run('volumes', 'alloc', '--pool', 'local', '--name', 'y', '--size', '1Mi', ...args);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test('volumes free: refuses while published or staged here, --force deletes; a missing volume is nothing to delete', async () => {
  const { dir, kubelet, run } = await setup();
  const pool = (await loadRegistry({ poolsFile: join(dir, 'pools.yaml') })).get('local')!.pool;
  for (const n of ['pvc-p', 'pvc-s', 'pvc-f']) assert.equal((await run('volumes', 'alloc', '--pool', 'local', '--name', n, '--size', '1Mi')).exitCode, 0);
  // Published: the record on the backend, as ControllerPublishVolume leaves it.
  await createBackend(pool, local, NODE).publish('pvc-p', NODE, { readonly: false, multiNode: false });
  const p = await run('volumes', 'free', 'local:pvc-p');
  assert.equal(p.exitCode, 1);
  assert.equal(p.stderr, 'poolcsi: refusing to free local:pvc-p: it is published to n1 (unpublish and unstage it first, or use --force)\n');
  // Staged on this node: a stage stash where kubelet puts staging directories.
  const staging = join(kubelet, 'plugins/kubernetes.io/csi/poolcsi.io/0123abcd/globalmount');
  await mkdir(staging, { recursive: true });
  await writeStash(staging, {
    version: 1, volumeId: 'local:pvc-s', state: 'staged', mode: 'filesystem', fsType: '', mountOptions: [], readonly: false,
    transport: 'bind', descriptor: { path: join(dir, 'pool/volumes/pvc-s') }, attached: { kind: 'directory', path: join(dir, 'pool/volumes/pvc-s'), readonly: false, stash: {} },
  });
  const s = await run('volumes', 'free', 'local:pvc-s', '--kubelet-dir', kubelet);
  assert.equal(s.exitCode, 1);
  assert.match(s.stderr, /^poolcsi: refusing to free local:pvc-s: it is staged on this node at .*globalmount \(/);
  const f = await run('volumes', 'free', 'local:pvc-s', '--kubelet-dir', kubelet, '--force', '--json');
  assert.equal(f.exitCode, 0, f.stderr);
  assert.deepEqual(JSON.parse(f.stdout), { volume_id: 'local:pvc-s', deleted: true, forced: `staged on this node at ${staging}` });
  const ok = await run('volumes', 'free', 'local:pvc-f', '--kubelet-dir', kubelet);
  assert.equal(ok.stdout, 'deleted local:pvc-f\n');
  assert.equal((await run('volumes', 'info', 'local:pvc-f')).exitCode, 1);
  assert.equal((await run('volumes', 'free', 'local:pvc-f')).stdout, 'local:pvc-f: no such volume (nothing left to delete)\n');
  assert.equal((await run('volumes', 'free')).exitCode, 2);
  assert.equal((await run('volumes', 'free', 'no-colon')).exitCode, 1);
});

test('volumes path: the stash, the mount table and the transport check; not staged is exit 1', async () => {
  const { dir, kubelet, run } = await setup();
  assert.equal((await run('volumes', 'alloc', '--pool', 'local', '--name', 'pvc-q', '--size', '1Mi')).exitCode, 0);
  const none = await run('volumes', 'path', 'local:pvc-q', '--kubelet-dir', kubelet);
  assert.equal(none.exitCode, 1);
  assert.equal(none.stdout, 'local:pvc-q: not staged on this node\n');
  const staging = join(kubelet, 'plugins/kubernetes.io/csi/poolcsi.io/feed/globalmount');
  const data = join(dir, 'pool/volumes/pvc-q');
  await mkdir(staging, { recursive: true });
  await writeStash(staging, {
    version: 1, volumeId: 'local:pvc-q', state: 'staged', mode: 'filesystem', fsType: '', mountOptions: [], readonly: false,
    transport: 'bind', descriptor: { path: data }, attached: { kind: 'directory', path: data, readonly: false, stash: {} },
  });
  const t = await run('volumes', 'path', 'local:pvc-q', '--kubelet-dir', kubelet);
  assert.equal(t.exitCode, 0, t.stderr);
  assert.match(t.stdout, /^VOLUME\s+STATE\s+KIND\s+PATH\s+STAGING\s+PUBLISHED\s+HEALTH$/m);
  assert.match(t.stdout, new RegExp(`^local:pvc-q\\s+staged\\s+directory\\s+${data}\\s+${staging} \\(not mounted\\)\\s+-\\s+volume directory present$`, 'm'));
  const j = JSON.parse((await run('volumes', 'path', 'local:pvc-q', '--kubelet-dir', kubelet, '--json')).stdout);
  assert.deepEqual(j.stages[0].attached, { kind: 'directory', path: data, readonly: false });
  assert.equal(j.stages[0].stagingMounted, false);
  assert.deepEqual(j.stages[0].condition, { abnormal: false, message: 'volume directory present' });
  assert.equal((await run('volumes', 'path')).exitCode, 2);
});

test('volumes info: table and JSON from the pool state; unknown volume exit 1', async () => {
  const { dir, run } = await setup();
  assert.equal((await run('volumes', 'alloc', '--pool', 'local', '--name', 'pvc-i', '--size', '3Mi',
    '--param', 'csi.storage.k8s.io/pvc/name=data', '--param', 'csi.storage.k8s.io/pvc/namespace=apps')).exitCode, 0);
  const pool = (await loadRegistry({ poolsFile: join(dir, 'pools.yaml') })).get('local')!.pool;
  await createBackend(pool, local, NODE).publish('pvc-i', NODE, { readonly: true, multiNode: false });
  const t = await run('volumes', 'info', 'local:pvc-i');
  assert.equal(t.exitCode, 0, t.stderr);
  assert.match(t.stdout, /^size\s+3.0 MiB \(3145728 bytes\)$/m);
  assert.match(t.stdout, /^pvc\s+apps\/data$/m);
  assert.match(t.stdout, /^published\s+n1 \(ro\)$/m);
  assert.match(t.stdout, /^origin\s+-$/m);
  const j = JSON.parse((await run('volumes', 'info', 'local:pvc-i', '--json')).stdout);
  assert.equal(j.record.sizeBytes, 3145728);
  assert.deepEqual(j.record.pvc, { namespace: 'apps', name: 'data' });
  assert.deepEqual(j.snapshots, []);
  const missing = await run('volumes', 'info', 'local:nope');
  assert.equal(missing.exitCode, 1);
  assert.equal(missing.stderr, 'poolcsi: volume local:nope not found in pool "local"\n');
  assert.equal((await run('volumes', 'info', '--nope')).exitCode, 2);
});
