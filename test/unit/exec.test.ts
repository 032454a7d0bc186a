import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkArgv, ExecError, local, waitFor } from '../../src/exec/index.js';

test('programs run with argv only: metacharacters are plain arguments', async () => {
  const r = await local.run('echo', ['$(id)', ';', '|', '`x`']);
  assert.equal(r.stdout, '$(id) ; | `x`\n');
  assert.equal(r.exitCode, 0);
});

test('a failure carries program, code and stderr', async () => {
  await assert.rejects(local.run('ls', ['/definitely/not/here']), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.program, 'ls');
    assert.equal(e.reason, 'exit');
    assert.ok(e.exitCode !== 0);
    assert.match(e.stderr, /No such file/);
    return true;
  });
  await assert.rejects(local.run('no-such-program-poolcsi', []), (e: unknown) => e instanceof ExecError && e.reason === 'not-found');
});

test('timeouts end the program', async () => {
  const t0 = Date.now();
  await assert.rejects(local.run('sleep', ['5'], { timeoutMs: 200 }), (e: unknown) => e instanceof ExecError && e.reason === 'timeout');
  assert.ok(Date.now() - t0 < 3000);
});

test('stdin carries payloads (how secrets travel), okCodes widen success', async () => {
  const r = await local.run('cat', [], { input: 'key-material' });
  assert.equal(r.stdout, 'key-material');
  assert.equal((await local.run('sh', ['-c', 'exit 3'], { okCodes: [0, 3] })).exitCode, 3);
});

test('shell-like program strings are refused', () => {
  assert.throws(() => checkArgv('ls -la', []), /not a plain name/);
  assert.throws(() => checkArgv('../bin/ls', []), /not a plain name/);
  assert.throws(() => checkArgv('ls', ['a\0b']), /not a clean string/);
  assert.doesNotThrow(() => checkArgv('/usr/sbin/lvcreate', ['-n', 'x']));
});

test('waitFor polls until a condition holds, or fails at its deadline', async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? n : undefined), { timeoutMs: 2000, what: 'n' }), 3);
  await assert.rejects(waitFor(() => undefined, { timeoutMs: 100, what: 'never' }), /timed out after 100 ms waiting for never/);
});

test('every program started is counted in poolcsi_exec_total by base name; a refused argv is not', async () => {
  const { registry } = await import('../../src/observe/metrics.js');
  const count = async () => {
    const m = (await registry.getSingleMetric('poolcsi_exec_total')!.get()).values.find((v) => v.labels.program === 'true' && v.labels.where === 'local');
    return m?.value ?? 0;
  };
  const before = await count();
  await local.run('true', []);
  await local.run('/bin/true', []);
  await assert.rejects(local.run('true', ['a\0b']), TypeError);
  assert.equal(await count(), before + 2);
});
