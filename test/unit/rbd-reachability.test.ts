// The monitors' reachability as one process sees it (src/backends/rbd/reachability.ts): the
// first command that finds the cluster away answers for the others in flight; while away, one
// call at a time tries again and the rest answer at once without starting a process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageError } from '../../src/backends/errors.js';
import { Reachability, reachabilityOf } from '../../src/backends/rbd/reachability.js';

const away = () => new StorageError('unavailable', 'Ceph monitors 10.0.0.1:6789 did not answer within 5 s');

/** A command that runs until settled by hand or stopped by the gate's signal. */
function command() {
  let settle!: { ok: (v: string) => void; fail: (e: unknown) => void };
  let signal!: AbortSignal;
  const fn = (s: AbortSignal) => new Promise<string>((ok, fail) => {
    signal = s;
    settle = { ok, fail };
    s.addEventListener('abort', () => fail(new Error('killed')), { once: true });
  });
  return { fn, settle: () => settle, signal: () => signal };
}

test('the first command to find the monitors away stops the others in flight, which answer the same UNAVAILABLE', async () => {
  const r = new Reachability();
  const [a, b, c] = [command(), command(), command()];
  const pa = r.run(a.fn);
  const pb = r.run(b.fn);
  const pc = r.run(c.fn);
  const e = away();
  a.settle().fail(e);
  await assert.rejects(pa, (x) => x === e);
  assert.equal(b.signal().aborted, true, 'the other commands were stopped');
  await assert.rejects(pb, (x) => x === e);
  await assert.rejects(pc, (x) => x === e);
});

test('while away: one call at a time tries the cluster, the others answer at once without running', async () => {
  const r = new Reachability();
  await assert.rejects(r.run(() => Promise.reject(away())));
  const probe = command();
  const pp = r.run(probe.fn);
  let ran = false;
  await assert.rejects(r.run(async () => { ran = true; return 'x'; }), (e: StorageError) => e.kind === 'unavailable' && /one call at a time tries again/.test(e.message));
  assert.equal(ran, false, 'no process while another call probes');
  probe.settle().ok('back');
  assert.equal(await pp, 'back');
  assert.equal(await r.run(async () => 'normal'), 'normal', 'the outage ended with the probe\'s answer');
});

test('any answer from the cluster ends the outage; a failure that is not about reaching it trips nothing', async () => {
  const r = new Reachability();
  await assert.rejects(r.run(() => Promise.reject(away())));
  const missing = new StorageError('not-found', 'image rbd/x does not exist');
  await assert.rejects(r.run(() => Promise.reject(missing)), (e) => e === missing);
  const [a, b] = [command(), command()];
  const pa = r.run(a.fn);
  const pb = r.run(b.fn);
  a.settle().fail(missing);
  await assert.rejects(pa, (e) => e === missing);
  assert.equal(b.signal().aborted, false, 'a not-found stops nobody');
  b.settle().ok('fine');
  assert.equal(await pb, 'fine');
});

test('one Reachability per cluster, whatever the order of its monitors', () => {
  assert.equal(reachabilityOf(['b:6789', 'a:6789']), reachabilityOf(['a:6789', 'b:6789']));
  assert.notEqual(reachabilityOf(['a:6789']), reachabilityOf(['c:6789']));
});
