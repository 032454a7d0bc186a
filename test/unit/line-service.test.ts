// exec/service.ts: a long-lived program answering JSON lines, here a small node program (the
// librbd helper needs a Ceph cluster: the lab tests it, test/lab/rbd-safety.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineService, ServiceExit } from '../../src/exec/service.js';

// Hello with what the first line said; then answers {id, echo} after `delayMs`, or exits on
// {"exit": true}; {"hang": true} never answers.
const PROGRAM = `
const rl = require('node:readline').createInterface({ input: process.stdin });
let first = true;
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (first) { first = false; process.stdout.write(JSON.stringify({ ready: true, secretSeen: m.secret === 's3cret' }) + '\\n'); return; }
  if (m.exit) process.exit(7);
  if (m.hang) return;
  setTimeout(() => process.stdout.write(JSON.stringify({ id: m.id, echo: m.echo }) + '\\n'), m.delayMs ?? 0);
});
rl.on('close', () => setTimeout(() => process.exit(0), 50));
`;

const start = () => LineService.start(process.execPath, ['-e', PROGRAM], { firstLine: JSON.stringify({ secret: 's3cret' }), helloMs: 10_000 });

test('the hello carries what the first line sent; answers find their request by id, in any order', async () => {
  const s = await start();
  try {
    assert.deepEqual(s.hello, { ready: true, secretSeen: true });
    const slow = s.request({ echo: 'slow', delayMs: 200 }, 5_000);
    const fast = s.request({ echo: 'fast' }, 5_000);
    const first = await Promise.race([slow.then(() => 'slow'), fast.then(() => 'fast')]);
    assert.equal(first, 'fast');
    assert.equal((await slow).echo, 'slow');
    assert.equal((await fast).echo, 'fast');
    assert.equal(s.inflight, 0);
  } finally {
    s.kill();
  }
});

test('a request past its deadline fails "timed out" and the program is killed, failing the others', async () => {
  const s = await start();
  const other = s.request({ hang: true }, 60_000);
  const t0 = Date.now();
  await assert.rejects(s.request({ hang: true }, 300), (e: unknown) => e instanceof ServiceExit && /timed out after 300 ms/.test(e.message));
  assert.ok(Date.now() - t0 < 3_000);
  await assert.rejects(other, (e: unknown) => e instanceof ServiceExit && /killed/.test(e.message));
  assert.equal(s.alive, false);
  await assert.rejects(s.request({ echo: 'x' }, 1_000), ServiceExit);
});

test('an aborted request answers at once and leaves the program serving', async () => {
  const s = await start();
  try {
    const ac = new AbortController();
    const p = s.request({ echo: 'late', delayMs: 300 }, 5_000, ac.signal);
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof ServiceExit && /abandoned/.test(e.message));
    assert.equal(s.alive, true);
    assert.equal((await s.request({ echo: 'next' }, 5_000)).echo, 'next');
  } finally {
    s.kill();
  }
});

test('a program that exits fails what is pending with its exit', async () => {
  const s = await start();
  const pending = s.request({ hang: true }, 60_000);
  void s.request({ exit: true }, 60_000).catch(() => undefined);
  await assert.rejects(pending, (e: unknown) => e instanceof ServiceExit && /code 7/.test(e.message));
  assert.equal(s.alive, false);
});

test('a program that is not installed, or ends before its hello, is a ServiceExit saying so', async () => {
  await assert.rejects(LineService.start('poolcsi-no-such-program', [], { helloMs: 5_000 }), (e: unknown) => e instanceof ServiceExit && /not installed/.test(e.message));
  await assert.rejects(LineService.start(process.execPath, ['-e', 'process.exit(3)'], { helloMs: 5_000 }), (e: unknown) => e instanceof ServiceExit && /exited before its hello \(code 3\)/.test(e.message));
  await assert.rejects(LineService.start(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { helloMs: 300 }), (e: unknown) => e instanceof ServiceExit && /did not start within 300 ms/.test(e.message));
});

test('closing its input lets the program finish and exit on its own', async () => {
  const s = await start();
  s.close();
  const until = Date.now() + 5_000;
  while (s.alive && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.alive, false);
});

test('an idle service does not keep this process alive; one with a request in flight does', async () => {
  // A child node process that starts the service, asks one slow request, prints its answer and
  // then has nothing left to do: it must exit by itself, with the answer printed.
  const script = `
    import { LineService } from ${JSON.stringify(new URL('../../src/exec/service.js', import.meta.url).href)};
    const s = await LineService.start(process.execPath, ['-e', ${JSON.stringify(PROGRAM)}], { firstLine: '{}', helloMs: 10000 });
    const a = await s.request({ echo: 'done', delayMs: 300 }, 5000);
    console.log(a.echo);
  `;
  const { local } = await import('../../src/exec/index.js');
  const t0 = Date.now();
  const r = await local.run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 20_000 });
  assert.equal(r.stdout.trim(), 'done');
  assert.ok(Date.now() - t0 < 15_000);
});
