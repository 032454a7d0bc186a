import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

const MAIN = new URL('../../src/cli/main.cjs', import.meta.url).pathname;
const poolcsi = (...args: string[]) => execa('node', [MAIN, ...args], { reject: false });

test('pools validate: ok on a valid file, exit 1 with pool and field on an invalid one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cli-'));
  await writeFile(join(dir, 'good.yaml'), 'pools:\n  - {id: local, type: dir, path: /srv/local}\n');
  await writeFile(join(dir, 'bad.yaml'), 'pools:\n  - {id: local, type: dir, path: srv}\n  - {id: x, type: tape}\n');
  const good = await poolcsi('pools', 'validate', join(dir, 'good.yaml'));
  assert.equal(good.exitCode, 0);
  assert.match(good.stdout, /^ok: 1 pool \(local: dir\)/);
  const bad = await poolcsi('pools', 'validate', join(dir, 'bad.yaml'));
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /pool "local" field path: must be an absolute path/);
  assert.match(bad.stderr, /pool "x" field type: unknown pool type "tape"/);
  assert.equal((await poolcsi('pools', 'validate', join(dir, 'missing.yaml'))).exitCode, 1);
});

test('every command has --help; bad usage exits 2', async () => {
  for (const args of [['--help'], ['serve', '--help'], ['pools', 'validate', '--help']]) {
    const r = await poolcsi(...args);
    assert.equal(r.exitCode, 0, args.join(' '));
    assert.match(r.stdout, /Usage: poolcsi/);
  }
  assert.equal((await poolcsi('serve', '--mode', 'sideways')).exitCode, 2);
  assert.equal((await poolcsi('serve', '--bogus')).exitCode, 2);
  assert.equal((await poolcsi('frobnicate')).exitCode, 2);
});
