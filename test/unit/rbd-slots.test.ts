// At most MAX_CLUSTER_COMMANDS rbd/ceph processes per Ceph cluster (src/backends/rbd/slots.ts,
// src/exec/slots.ts): with the monitors away, only that many start; the first to time out
// answers for the queued ones, which start nothing. A queued command keeps its own deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageError } from '../../src/backends/errors.js';
import { CephCli } from '../../src/backends/rbd/cli.js';
import { ETIMEDOUT } from '../../src/backends/rbd/errors.js';
import { MAX_CLUSTER_COMMANDS, NotStarted } from '../../src/backends/rbd/slots.js';
import { ExecError } from '../../src/exec/errors.js';
import type { Runner, RunOptions, RunResult } from '../../src/exec/index.js';
import { Slots } from '../../src/exec/slots.js';
import { waitFor } from '../../src/exec/wait.js';
import { rbdPool } from './rbd-helpers.js';

interface Run { program: string; args: readonly string[]; opts: RunOptions; ok: (stdout: string) => void; fail: (e: unknown) => void }

/** A Runner whose programs run until the test ends them, their signal aborts or their deadline passes. */
class HangingRunner implements Runner {
  readonly host = 'hanging';
  readonly runs: Run[] = [];
  run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const end = (e: unknown) => { clearTimeout(timer); reject(e); };
      const timer = setTimeout(() => end(new ExecError(program, args, undefined, '', '', 'timeout')), opts.timeoutMs ?? 60_000);
      opts.signal?.addEventListener('abort', () => end(new ExecError(program, args, undefined, '', '', 'signal')), { once: true });
      this.runs.push({
        program, args, opts,
        ok: (stdout) => { clearTimeout(timer); resolve({ stdout, stderr: '', exitCode: 0, durationMs: 0 }); },
        fail: end,
      });
    });
  }
}

let cluster = 0;
/** A CephCli on monitors no other test uses (slots and reachability are per cluster). */
function cli(runner: Runner, timeoutSeconds = 5): CephCli {
  const monhost = [`10.7.0.${++cluster}:6789`];
  return new CephCli(runner, rbdPool({ monhost }), { monhost, user: 'admin', keyfile: '/nonexistent/key', timeoutSeconds });
}

const image = (i: number) => ['info', `kube/img-${i}`, '--format', 'json'];
const monitorsAway = () => new ExecError('rbd', [], ETIMEDOUT, 'monclient(hunting): authenticate timed out after 5', '', 'exit');

test('the slots: at most size at once, in order of arrival; a waiter gives up at its deadline or signal', async () => {
  const s = new Slots(2);
  const a = (await s.take(1000))!;
  const b = (await s.take(1000))!;
  const order: string[] = [];
  const c = s.take(60_000).then((r) => { order.push('c'); return r; });
  const ac = new AbortController();
  const d = s.take(60_000, ac.signal);
  const e = s.take(60_000).then((r) => { order.push('e'); return r; });
  assert.deepEqual(s.stats, { active: 2, queued: 3 });
  assert.equal(await s.take(20), undefined, 'no slot came free within its deadline');
  ac.abort();
  assert.equal(await d, undefined, 'an aborted waiter leaves the queue');
  a();
  a(); // a second release frees nothing more
  const rc = (await c)!;
  assert.deepEqual(s.stats, { active: 2, queued: 1 });
  b();
  const re = (await e)!;
  assert.deepEqual(order, ['c', 'e']);
  rc();
  re();
  assert.deepEqual(s.stats, { active: 0, queued: 0 });
});

test('monitors away: only MAX_CLUSTER_COMMANDS processes start; the first to time out answers for the rest, queued ones start nothing', async () => {
  const runner = new HangingRunner();
  const c = cli(runner);
  const n = MAX_CLUSTER_COMMANDS + 4;
  const calls = Array.from({ length: n }, (_, i) => c.read(image(i)).then(() => 'ok', (e: unknown) => e));
  await waitFor(() => runner.runs.length === MAX_CLUSTER_COMMANDS || undefined, { timeoutMs: 5000, what: 'the first commands to start' });
  const started = Date.now();
  runner.runs[0]!.fail(monitorsAway());
  const results = await Promise.all(calls);
  assert.ok(Date.now() - started < 1000, 'the queued commands answered at once');
  assert.equal(runner.runs.length, MAX_CLUSTER_COMMANDS, 'no process started once the monitors were found away');
  for (const r of results) assert.ok(r instanceof StorageError && r.kind === 'unavailable', `UNAVAILABLE, got ${String(r)}`);
});

test('a queued command keeps its deadline: it gives up without a process and trips no outage; the wait counts against the run', async () => {
  const runner = new HangingRunner();
  const c = cli(runner);
  const busy = Array.from({ length: MAX_CLUSTER_COMMANDS }, (_, i) => c.read(image(i)));
  await waitFor(() => runner.runs.length === MAX_CLUSTER_COMMANDS || undefined, { timeoutMs: 5000, what: 'the slots taken' });
  const t0 = Date.now();
  await assert.rejects(c.read(image(100), { timeoutMs: 300 }), (e) => e instanceof NotStarted && e.kind === 'unavailable' && /not started within/.test(e.message));
  assert.ok(Date.now() - t0 < 2000, 'gave up at its own deadline');
  assert.equal(runner.runs.length, MAX_CLUSTER_COMMANDS, 'it never started');
  // Queued behind the busy ones: once a slot frees, it runs with what is left of its 10 s.
  const queued = c.read(image(101), { timeoutMs: 10_000 });
  await waitFor(() => Date.now() - t0 > 400 || undefined, { timeoutMs: 5000, what: 'some time in the queue' });
  runner.runs[0]!.ok('{}');
  await waitFor(() => runner.runs.length === MAX_CLUSTER_COMMANDS + 1 || undefined, { timeoutMs: 5000, what: 'the queued command to start' });
  const last = runner.runs.at(-1)!;
  assert.ok(last.opts.timeoutMs! <= 10_000 - 100, `the wait counted: ${last.opts.timeoutMs} ms left`);
  last.ok('{}');
  assert.equal(await queued, '{}');
  // The queue timeout did not mark the cluster away: the others finish normally.
  for (const r of runner.runs.slice(1, MAX_CLUSTER_COMMANDS)) r.ok('{}');
  await Promise.all(busy);
});

test('a command that has run twice the connect timeout frees its slot (an hours-long rm or flatten holds up no reads)', async () => {
  const runner = new HangingRunner();
  const c = cli(runner, 1);
  assert.equal(c.holdMs, 2000);
  const long = Array.from({ length: MAX_CLUSTER_COMMANDS }, (_, i) => c.rbd(['rm', `kube/big-${i}`], { timeoutMs: 3600_000 }));
  await waitFor(() => runner.runs.length === MAX_CLUSTER_COMMANDS || undefined, { timeoutMs: 5000, what: 'the long commands to start' });
  const read = c.read(image(0));
  await waitFor(() => runner.runs.length === MAX_CLUSTER_COMMANDS + 1 || undefined, { timeoutMs: 10_000, what: 'the read to start beside them' });
  runner.runs.at(-1)!.ok('{}');
  assert.equal(await read, '{}');
  for (const r of runner.runs.slice(0, MAX_CLUSTER_COMMANDS)) r.ok('');
  await Promise.all(long);
});

test('while the monitors are away, a ceph command\'s call tries the cluster with rbd (quicker to start) and starts ceph only once it answers', async () => {
  const runner = new HangingRunner();
  const c = cli(runner);
  const first = c.read(image(1));
  await waitFor(() => runner.runs.length === 1 || undefined, { timeoutMs: 2000, what: 'the first run' });
  runner.runs[0]!.fail(monitorsAway());
  await assert.rejects(first, (e: StorageError) => e.kind === 'unavailable');

  const df = c.ceph(['df', '--format', 'json']);
  await waitFor(() => runner.runs.length === 2 || undefined, { timeoutMs: 2000, what: 'the probe' });
  assert.equal(runner.runs[1]!.program, 'rbd', 'the probe is rbd, not ceph');
  assert.ok(runner.runs[1]!.args.includes('ls'));
  runner.runs[1]!.fail(monitorsAway());
  await assert.rejects(df, (e: StorageError) => e.kind === 'unavailable');
  assert.equal(runner.runs.length, 2, 'no ceph started while the cluster is away');

  const again = c.ceph(['df', '--format', 'json']);
  await waitFor(() => runner.runs.length === 3 || undefined, { timeoutMs: 2000, what: 'the next probe' });
  runner.runs[2]!.ok('');
  await waitFor(() => runner.runs.length === 4 || undefined, { timeoutMs: 2000, what: 'ceph after the cluster answered' });
  assert.equal(runner.runs[3]!.program, 'ceph');
  runner.runs[3]!.ok('{"stats":{}}');
  assert.equal(await again, '{"stats":{}}');

  const up = c.ceph(['df', '--format', 'json']);
  await waitFor(() => runner.runs.length === 5 || undefined, { timeoutMs: 2000, what: 'ceph with the cluster up' });
  assert.equal(runner.runs[4]!.program, 'ceph', 'no probe while the cluster answers');
  runner.runs[4]!.ok('{}');
  await up;
});
