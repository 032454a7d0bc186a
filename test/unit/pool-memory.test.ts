// The pool memory: identity keys cannot change under a pool's volumes; retired pools and
// identities survive a restart through the state file; a removal that cannot be saved is not
// applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { IDENTITY_KEYS } from '../../src/pools/identity.js';
import { decodeMemory, FileMemory } from '../../src/pools/memory.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { POOL_TYPES } from '../../src/pools/schema.js';
import { applyPools, forgetPool, restoreMemory } from '../../src/pools/source.js';
import { parsePools } from '../../src/pools/validate.js';
import { createLogger } from '../../src/observe/log.js';

const quiet = () => {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) as never }) };
};
const yaml = (...pools: string[]) => `pools:\n${pools.map((p) => `  - ${p}\n`).join('')}`;
const RBD = 'type: rbd, pool: kube, monhost: [10.0.0.1, 10.0.0.2]';

test('every pool type has its identity keys listed', () => {
  assert.deepEqual(Object.keys(IDENTITY_KEYS).sort(), [...POOL_TYPES].sort());
});

for (const [what, before, after, field] of [
  ['dir path', '{id: a, type: dir, path: /x}', '{id: a, type: dir, path: /y}', 'path'],
  ['lvm vgname', '{id: a, type: lvm, vgname: vg0}', '{id: a, type: lvm, vgname: vg1}', 'vgname'],
  ['lvmthin thinpool', '{id: a, type: lvmthin, vgname: vg0, thinpool: t}', '{id: a, type: lvmthin, vgname: vg0, thinpool: t2}', 'thinpool'],
  ['rbd pool', `{id: a, ${RBD}}`, '{id: a, type: rbd, pool: other, monhost: [10.0.0.1, 10.0.0.2]}', 'pool'],
  ['rbd monitor set', `{id: a, ${RBD}}`, '{id: a, type: rbd, pool: kube, monhost: [10.0.0.9]}', 'monhost'],
  ['rbd dataPool', `{id: a, ${RBD}}`, `{id: a, ${RBD}, dataPool: ec}`, 'dataPool'],
  ['type', '{id: a, type: dir, path: /x}', '{id: a, type: lvm, vgname: vg0}', 'type'],
] as const) {
  test(`a reload that changes a pool's ${what} is refused whole (logged, counted) and the old pools stay`, async () => {
    const { lines, log } = quiet();
    const r = new PoolRegistry();
    assert.equal(await applyPools(r, yaml(before), 'test', log), true);
    assert.equal(await applyPools(r, yaml(after, '{id: b, type: dir, path: /b}'), 'test', log), false);
    assert.deepEqual(r.list().map((p) => p.id), ['a'], 'pool b was not added either');
    assert.match(lines.join(''), new RegExp(`pool \\\\"a\\\\" field ${field}: cannot change`));
  });
}

test('the monitor list may be reordered; other fields may change', async () => {
  const { log } = quiet();
  const r = new PoolRegistry();
  assert.equal(await applyPools(r, yaml(`{id: a, ${RBD}}`), 'test', log), true);
  assert.equal(await applyPools(r, yaml('{id: a, type: rbd, pool: kube, monhost: [10.0.0.2, 10.0.0.1], timeoutSeconds: 30}'), 'test', log), true);
  assert.equal(await applyPools(r, yaml('{id: l, type: lvm, vgname: vg0}'), 'test', log), true);
  assert.equal(await applyPools(r, yaml('{id: l, type: lvm, vgname: vg0, stripes: 2, nodes: [n1]}'), 'test', log), true);
});

test('a retired pool\'s identity is still checked when its id comes back', async () => {
  const { log } = quiet();
  const r = new PoolRegistry();
  await applyPools(r, yaml('{id: a, type: dir, path: /x}'), 'test', log);
  await applyPools(r, yaml('{id: b, type: dir, path: /b}'), 'test', log);
  assert.equal(await applyPools(r, yaml('{id: a, type: dir, path: /elsewhere}'), 'test', log), false);
  assert.equal(await applyPools(r, yaml('{id: a, type: dir, path: /x}'), 'test', log), true);
  assert.equal(r.get('a')?.retired, false);
  assert.equal(r.get('b')?.retired, true);
});

test('state file: a removed pool is remembered across a restart, even when removed while the controller was down', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-memory-'));
  try {
    const { log } = quiet();
    const first = new PoolRegistry();
    const store = new FileMemory(join(dir, 'state'));
    await restoreMemory(first, store, log);
    await applyPools(first, yaml('{id: a, type: dir, path: /x}', '{id: b, type: lvm, vgname: vg0}'), 'test', log, store);
    await applyPools(first, yaml('{id: b, type: lvm, vgname: vg0}'), 'test', log, store);
    const saved = JSON.parse(await readFile(join(dir, 'state', 'known-pools.json'), 'utf8'));
    assert.deepEqual({ active: saved.active.map((p: { id: string }) => p.id), retired: saved.retired.map((p: { id: string }) => p.id) }, { active: ['b'], retired: ['a'] });

    // Restart: a retired, b still listed. Then b is removed from the list while "down".
    const second = new PoolRegistry();
    await restoreMemory(second, new FileMemory(join(dir, 'state')), log);
    assert.deepEqual(second.get('a'), { pool: { id: 'a', type: 'dir', path: '/x', disable: false, quota: 'auto' }, retired: true });
    assert.equal(second.loaded, false);
    await applyPools(second, yaml('{id: c, type: dir, path: /c}'), 'test', log, new FileMemory(join(dir, 'state')));
    assert.equal(second.get('b')?.retired, true, 'b was not in the list at start: retired, not forgotten');
    assert.deepEqual(second.list().map((p) => p.id), ['c']);

    // Restart again with b's identity changed: refused.
    const third = new PoolRegistry();
    const s3 = new FileMemory(join(dir, 'state'));
    await restoreMemory(third, s3, log);
    assert.equal(await applyPools(third, yaml('{id: b, type: lvm, vgname: vg9}'), 'test', log, s3), false);
    assert.equal(await applyPools(third, yaml('{id: c, type: dir, path: /c}'), 'test', log, s3), true);

    // Forgetting (once confirmed empty) is saved.
    assert.equal(await forgetPool(third, 'a', log, s3), true);
    assert.equal(await forgetPool(third, 'c', log, s3), false, 'an active pool is never forgotten');
    const fourth = new PoolRegistry();
    await restoreMemory(fourth, new FileMemory(join(dir, 'state')), log);
    assert.equal(fourth.get('a'), undefined);
    assert.equal(fourth.get('b')?.retired, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a removal that cannot be saved is not applied', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-memory-'));
  try {
    const { lines, log } = quiet();
    const r = new PoolRegistry();
    const store = new FileMemory(dir);
    await applyPools(r, yaml('{id: a, type: dir, path: /x}'), 'test', log, store);
    await chmod(dir, 0o500);
    assert.equal(await applyPools(r, yaml('{id: b, type: dir, path: /b}'), 'test', log, store), false);
    assert.deepEqual(r.list().map((p) => p.id), ['a']);
    assert.match(lines.join(''), /cannot save the pool memory/);
  } finally {
    await chmod(dir, 0o700);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a state file that is not a valid memory stops the start with a message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-memory-'));
  try {
    await writeFile(join(dir, 'known-pools.json'), '{"version":1,"active":[{"id":"A","type":"dir"}],"retired":[]}');
    await assert.rejects(restoreMemory(new PoolRegistry(), new FileMemory(dir), quiet().log), /pool memory in .*known-pools.json is invalid.*troubleshooting/);
    assert.throws(() => decodeMemory('nope', 'x'), /not JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parsePools output survives the memory round trip unchanged', () => {
  const pools = parsePools(yaml('{id: a, type: lvmthin, vgname: vg0, thinpool: t}', `{id: r, ${RBD}, secretRef: {name: s, namespace: ns}}`)).pools;
  assert.deepEqual(decodeMemory(JSON.stringify({ version: 1, active: pools, retired: [] }), 'x').active, pools);
});

// A process that starts while pools.yaml is refused serves the memory's active pools
// (source.ts startFromLastGood): they go back through parsePools as JSON, so that form must
// parse to exactly the same pools, for every type.
test('the remembered pools parse back unchanged from their JSON form, for every pool type', () => {
  const file = parsePools(yaml(
    '{id: d, type: dir, path: /srv/d}',
    '{id: l, type: lvm, vgname: vg0, mirror: 1, saferemove: zero}',
    '{id: t, type: lvmthin, vgname: vg0, thinpool: data, overprovision: 3}',
    `{id: r, ${RBD}, secretRef: {name: ceph, namespace: storage}}`,
    '{id: n, type: nfs, server: 10.0.0.10, export: /srv/k8s, options: [vers=4.2, hard], onDelete: archive}',
    '{id: i, type: iscsi, portals: ["10.0.0.20:3260"], iqnPrefix: "iqn.2003-01.org.example:san", backing: {type: lvmthin, vgname: vg0, thinpool: luns}, '
      + 'ssh: {host: 10.0.0.20, privateKey: {secretRef: {name: s, namespace: st}}, hostKey: {secretRef: {name: s, namespace: st}}}}',
    '{id: z, type: zfspool, pool: tank/k8s, defaults: {compression: lz4}}',
    '{id: zi, type: zfs-iscsi, portals: ["10.0.0.21:3260"], iqnPrefix: "iqn.2003-01.org.example:zfs", pool: tank/luns, '
      + 'chap: {secretRef: {name: c, namespace: st}}, ssh: {host: 10.0.0.21, privateKey: {secretRef: {name: s, namespace: st}}, hostKey: {secretRef: {name: s, namespace: st}}}}',
    '{id: il, type: iscsi-luns, portals: ["10.0.0.40", "10.0.1.40:3261"], target: "iqn.2005-10.org.example:luns", chap: {secretRef: {name: c, namespace: st}}}',
  ));
  assert.deepEqual(file.pools.map((p) => p.type).sort(), [...POOL_TYPES].sort(), 'one pool of every type');
  const again = parsePools(JSON.stringify({ pools: decodeMemory(JSON.stringify({ version: 1, active: file.pools, retired: [] }), 'test').active }));
  assert.deepEqual(again, file);
});
