// Issue 10 item 15: pool files that would fail every request or endanger data are refused, one
// line per problem, by the one validation the CLI, SIGHUP and ConfigMap updates share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { traitsOf } from '../../src/backends/index.js';
import { createLogger } from '../../src/observe/log.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { POOL_TYPES, type PoolType } from '../../src/pools/schema.js';
import { applyPools } from '../../src/pools/source.js';
import { parsePools, PoolsError, TYPE_CAN } from '../../src/pools/validate.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.cjs', import.meta.url));

const problems = (yaml: string): string[] => {
  try { parsePools(yaml); } catch (e) { if (e instanceof PoolsError) return e.problems; throw e; }
  return [];
};

const BAD = `pools:
  - {id: a, type: dir, path: /srv/a, defaults: {fsType: xfs}}
  - {id: b, type: dir, path: /srv/b, volumeModes: [block]}
  - {id: c, type: dir, path: /srv/a/}
  - {id: d, type: dir, path: /srv/b/inner}
  - {id: e, type: dir, path: /}
  - {id: f, type: dir, path: /etc}
  - {id: g, type: dir, path: /var/lib/kubelet}
  - {id: h, type: dir, path: /proc/self}
`;

test('each problem is one line naming the pool and the field', () => {
  assert.deepEqual(problems(BAD), [
    'pool "a" field defaults.fsType: type dir makes no filesystem (volumes are directories)',
    'pool "b" field volumeModes: type dir cannot serve block volumes (it serves filesystem)',
    'pool "e" field path: / is a system directory; use a directory of its own (e.g. /var/lib/poolcsi/e)',
    'pool "f" field path: /etc is a system directory; use a directory of its own (e.g. /var/lib/poolcsi/f)',
    'pool "g" field path: /var/lib/kubelet is a system directory; use a directory of its own (e.g. /var/lib/poolcsi/g)',
    'pool "h" field path: /proc/self is on a kernel pseudo-filesystem, not storage',
    'pool "c" field path: /srv/a is also the path of pool "a"; each dir pool needs its own directory',
    'pool "d" field path: /srv/b/inner lies inside pool "b" (/srv/b)',
  ]);
});

test('the same directory on disjoint node sets is two pools; overlapping node sets are not', () => {
  assert.deepEqual(problems('pools:\n  - {id: a, type: dir, path: /srv/p, nodes: [n1]}\n  - {id: b, type: dir, path: /srv/p, nodes: [n2]}\n'), []);
  assert.equal(problems('pools:\n  - {id: a, type: dir, path: /srv/p, nodes: [n1, n2]}\n  - {id: b, type: dir, path: /srv/p/q, nodes: [n2]}\n').length, 1);
  assert.equal(problems('pools:\n  - {id: a, type: dir, path: /srv/p}\n  - {id: b, type: dir, path: /srv/p, nodes: [n2]}\n').length, 1);
  // A sibling with a common name prefix is not inside.
  assert.deepEqual(problems('pools:\n  - {id: a, type: dir, path: /srv/p}\n  - {id: b, type: dir, path: /srv/p2}\n'), []);
});

test('fsType stays allowed where the type makes a filesystem; block where it can serve it', () => {
  assert.deepEqual(problems('pools:\n  - {id: t, type: lvmthin, vgname: vg0, thinpool: tp, volumeModes: [block], defaults: {fsType: xfs}}\n'), []);
});

test('the pools layer\'s view of each type matches the backends\' traits', () => {
  for (const t of POOL_TYPES as PoolType[]) {
    assert.deepEqual([...TYPE_CAN[t].modes], [...traitsOf(t).modes], t);
    assert.equal(TYPE_CAN[t].makesFilesystem, traitsOf(t).makesFilesystem, t);
  }
});

test('a reload (SIGHUP, ConfigMap) with such a pool is refused and the last good pools stay', async () => {
  const registry = new PoolRegistry();
  const log = createLogger({ level: 'silent' });
  assert.equal(await applyPools(registry, 'pools:\n  - {id: a, type: dir, path: /srv/a}\n', 'test', log), true);
  assert.equal(await applyPools(registry, 'pools:\n  - {id: a, type: dir, path: /srv/a}\n  - {id: b, type: dir, path: /srv/a/b}\n', 'test', log), false);
  assert.deepEqual(registry.list().map((p) => p.id), ['a']);
});

test('poolcsi pools validate prints one line per problem and exits 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-validate-'));
  const file = join(dir, 'pools.yaml');
  await writeFile(file, 'pools:\n  - {id: a, type: dir, path: /, defaults: {fsType: xfs}}\n  - {id: b, type: dir, path: /srv/x, volumeModes: [block]}\n  - {id: c, type: dir, path: /srv/x}\n');
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'pools', 'validate', file], (err, _out, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr }));
  });
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 4, r.stderr);
  for (const l of lines) assert.ok(l.startsWith(`${file}: pool "`), l);
  assert.match(r.stderr, /pool "a" field defaults\.fsType/);
  assert.match(r.stderr, /pool "a" field path: \/ is a system directory/);
  assert.match(r.stderr, /pool "b" field volumeModes/);
  assert.match(r.stderr, /pool "c" field path: \/srv\/x is also the path of pool "b"/);
});
