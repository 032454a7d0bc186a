import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedLocks } from '../../src/csi/locks.js';
import { withLocks, type DriverContext } from '../../src/csi/context.js';
import { status } from '@grpc/grpc-js';
import { CsiError } from '../../src/csi/errors.js';

test('keys are taken all or none, and released once', () => {
  const l = new KeyedLocks();
  const r1 = l.tryAcquire(['a', 'b']);
  assert.ok(r1);
  assert.equal(l.tryAcquire(['b', 'c']), undefined);
  assert.equal(l.isHeld('c'), false, 'a failed acquire takes nothing');
  r1();
  r1();
  assert.equal(l.size, 0);
  assert.ok(l.tryAcquire(['b', 'c']));
});

test('a concurrent operation on the same volume gets ABORTED, a different one proceeds', async () => {
  const ctx = { locks: new KeyedLocks() } as DriverContext;
  let release!: () => void;
  const slow = withLocks(ctx, ['pool:vol-1'], () => new Promise<string>((r) => { release = () => r('first'); }));
  await assert.rejects(withLocks(ctx, ['pool:vol-1'], async () => 'second'), (e: unknown) => e instanceof CsiError && e.code === status.ABORTED);
  assert.equal(await withLocks(ctx, ['pool:vol-2'], async () => 'other'), 'other');
  release();
  assert.equal(await slow, 'first');
  assert.equal(await withLocks(ctx, ['pool:vol-1'], async () => 'after'), 'after');
});

test('a lock is released when the operation throws', async () => {
  const ctx = { locks: new KeyedLocks() } as DriverContext;
  await assert.rejects(withLocks(ctx, ['k'], async () => { throw new Error('boom'); }), /boom/);
  assert.equal(ctx.locks.size, 0);
});
