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

test('an abort ends the program (a cancelled background job)', async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const run = local.run('sleep', ['5'], { signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(run, (e: unknown) => e instanceof ExecError && e.reason === 'signal');
  assert.ok(Date.now() - t0 < 3000);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(local.run('sleep', ['5'], { signal: pre.signal }), (e: unknown) => e instanceof ExecError && e.reason === 'signal');
});

test('a program that ignores SIGTERM at its timeout is killed after the grace', async () => {
  const t0 = Date.now();
  await assert.rejects(local.run('sh', ['-c', 'trap "" TERM; sleep 30 & wait; sleep 30'], { timeoutMs: 100 }), (e: unknown) => e instanceof ExecError && e.reason === 'timeout');
  const took = Date.now() - t0;
  assert.ok(took >= 100 && took < 15_000, `took ${took} ms`);
});

test('environment is merged over this process\'s, cwd applies, a signal death is "signal"', async () => {
  const r = await local.run('sh', ['-c', 'echo "$POOLCSI_T:$HOME"; pwd'], { env: { POOLCSI_T: 'x' }, cwd: '/tmp' });
  assert.equal(r.stdout, `x:${process.env.HOME ?? ''}\n/tmp\n`);
  await assert.rejects(local.run('sh', ['-c', 'kill -KILL $$']), (e: unknown) => e instanceof ExecError && e.reason === 'signal');
});

test('input to a program that does not read it is no failure; large output is whole', async () => {
  const r = await local.run('true', [], { input: Buffer.alloc(1 << 20, 1) });
  assert.equal(r.exitCode, 0);
  const big = await local.run('head', ['-c', String(3 << 20), '/dev/zero']);
  assert.equal(big.stdout.length, 3 << 20);
});
