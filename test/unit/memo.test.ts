// The call-scoped read memo (src/exec/memo.ts): repeats within a call run once, a change makes
// the next read run again, failures are not kept, and nothing is shared across calls or with
// work started outside a call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callScope, change, memoRead, outsideCall } from '../../src/exec/index.js';

function counter() {
  let runs = 0;
  return { read: async () => `answer ${++runs}`, get runs() { return runs; } };
}

test('within one call a repeated read runs once, until a change', async () => {
  const c = counter();
  await callScope(async () => {
    assert.equal(await memoRead('k', c.read), 'answer 1');
    assert.equal(await memoRead('k', c.read), 'answer 1');
    assert.equal(c.runs, 1);
    assert.equal(await change(async () => 'written'), 'written');
    assert.equal(await memoRead('k', c.read), 'answer 2', 'a read after the change runs again');
    assert.equal(await memoRead('other', c.read), 'answer 3', 'keys are separate');
  });
});

test('a read running beside a change is forgotten when the change ends', async () => {
  const c = counter();
  await callScope(async () => {
    let finish!: () => void;
    const writing = change(() => new Promise<void>((r) => { finish = r; }));
    const during = memoRead('k', c.read);
    finish();
    await writing;
    await during;
    assert.equal(await memoRead('k', c.read), 'answer 2');
  });
});

test('a failed read is not kept; calls and background work share nothing', async () => {
  let fail = true;
  const flaky = async () => { if (fail) throw new Error('down'); return 'up'; };
  await callScope(async () => {
    await assert.rejects(memoRead('k', flaky), /down/);
    fail = false;
    assert.equal(await memoRead('k', flaky), 'up');
  });
  const c = counter();
  await callScope(async () => { await memoRead('k', c.read); });
  await callScope(async () => { await memoRead('k', c.read); });
  assert.equal(c.runs, 2, 'each call reads for itself');
  await memoRead('k', c.read);
  await memoRead('k', c.read);
  assert.equal(c.runs, 4, 'outside a call nothing is kept');
  await callScope(async () => {
    await memoRead('k', c.read);
    await outsideCall(() => memoRead('k', c.read));
  });
  assert.equal(c.runs, 6, 'work started outside the call reads for itself');
});
