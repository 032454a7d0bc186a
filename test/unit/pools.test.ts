// The pool schema, its error messages, and the registry's update rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePools, PoolsError } from '../../src/pools/validate.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { jsonSchema } from '../../src/pools/schema.js';

const problems = (text: string): string[] => {
  try {
    parsePools(text);
  } catch (e) {
    assert.ok(e instanceof PoolsError);
    return e.problems;
  }
  assert.fail('expected the pools to be rejected');
};

test('a valid dir pool parses with defaults', () => {
  const f = parsePools('pools:\n  - id: local\n    type: dir\n    path: /srv/pool\n    nodes: [worker-1]\n');
  assert.equal(f.pools[0]!.id, 'local');
  assert.equal(f.pools[0]!.disable, false);
});

test('errors name the pool id and the field', () => {
  assert.deepEqual(problems('pools:\n  - id: local\n    type: dir\n    path: relative\n'), ['pool "local" field path: must be an absolute path']);
  assert.match(problems('pools:\n  - id: Local\n    type: dir\n    path: /x\n')[0]!, /^pool "Local" field id: a pool id is 1-31 characters/);
  assert.match(problems('pools:\n  - id: a\n    type: dir\n    path: /x\n    colour: red\n')[0]!, /^pool "a": unknown key\(s\) "colour"/);
  assert.match(problems('pools:\n  - id: a\n    type: tape\n')[0]!, /^pool "a" field type|^pool "a": unknown pool type/);
  assert.match(problems('pools:\n  - type: dir\n    path: /x\n')[0]!, /^pool #0 field id/);
  assert.match(problems('pools:\n  - id: a\n    type: dir\n    path: /x/../etc\n')[0]!, /must not contain "\.\."/);
});

test('duplicate ids and bad documents are refused', () => {
  assert.deepEqual(problems('pools:\n  - {id: a, type: dir, path: /x}\n  - {id: a, type: dir, path: /y}\n'), ['pool "a" field id: duplicate pool id "a"']);
  assert.match(problems('pools: [')[0]!, /not valid YAML/);
  assert.match(problems('just a string')[0]!, /expected a mapping/);
});

test('an update that changes a pool type is refused whole and the old pools stay', () => {
  const r = new PoolRegistry();
  r.update(parsePools('pools:\n  - {id: a, type: dir, path: /x}\n'));
  assert.throws(() => r.update({ pools: [{ ...r.list()[0]!, type: 'lvm' } as never] }), /cannot change from dir to lvm/);
  assert.equal(r.get('a')?.pool.type, 'dir');
  assert.equal(r.version, 1);
});

test('a removed pool is retired: still found for its volumes, not offered for new ones', () => {
  const r = new PoolRegistry();
  r.update(parsePools('pools:\n  - {id: a, type: dir, path: /x}\n  - {id: b, type: dir, path: /y}\n'));
  r.update(parsePools('pools:\n  - {id: b, type: dir, path: /y}\n'));
  assert.deepEqual(r.list().map((p) => p.id), ['b']);
  assert.deepEqual(r.get('a'), { pool: { id: 'a', type: 'dir', path: '/x', disable: false, quota: 'auto' }, retired: true });
  r.update(parsePools('pools:\n  - {id: a, type: dir, path: /x}\n'));
  assert.equal(r.get('a')?.retired, false);
});

test('the JSON Schema for Helm comes from the same schema', () => {
  const s = jsonSchema() as { type: string; items: { oneOf?: unknown[]; anyOf?: unknown[] } };
  assert.equal(s.type, 'array');
  const variants = s.items.oneOf ?? s.items.anyOf ?? [];
  assert.ok(variants.length >= 1);
  assert.match(JSON.stringify(s), /"dir"/);
});
