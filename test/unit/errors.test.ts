import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { toStatus, CsiError } from '../../src/csi/errors.js';
import { StorageError } from '../../src/backends/errors.js';
import { ExecError } from '../../src/exec/errors.js';
import { IdError } from '../../src/pools/ids.js';

test('storage error kinds map to the CSI codes of docs/design.md §7', () => {
  const cases: Array<[ConstructorParameters<typeof StorageError>[0], status]> = [
    ['invalid', status.INVALID_ARGUMENT], ['not-found', status.NOT_FOUND], ['exists', status.ALREADY_EXISTS],
    ['out-of-range', status.OUT_OF_RANGE], ['exhausted', status.RESOURCE_EXHAUSTED], ['precondition', status.FAILED_PRECONDITION],
    ['busy', status.ABORTED], ['unavailable', status.UNAVAILABLE], ['denied', status.PERMISSION_DENIED], ['internal', status.INTERNAL],
  ];
  for (const [kind, code] of cases) assert.equal(toStatus(new StorageError(kind, 'x')).code, code, kind);
});

test('exec failures keep program, code and stderr in the message', () => {
  const e = new ExecError('lvcreate', ['-n', 'x'], 5, '  Volume group "vg0" has insufficient free space\n', '', 'exit');
  const s = toStatus(e);
  assert.equal(s.code, status.INTERNAL);
  assert.match(s.message, /lvcreate exited with code 5: .*insufficient free space/);
  assert.equal(toStatus(new ExecError('rbd', [], undefined, '', '', 'timeout')).code, status.DEADLINE_EXCEEDED);
  assert.equal(toStatus(new ExecError('rbd', [], undefined, '', '', 'not-found')).code, status.FAILED_PRECONDITION);
  assert.ok(e.mentions('INSUFFICIENT FREE'));
});

test('other errors', () => {
  assert.equal(toStatus(new CsiError(status.ABORTED, 'busy')).code, status.ABORTED);
  assert.equal(toStatus(new IdError('bad')).code, status.INVALID_ARGUMENT);
  assert.deepEqual(toStatus(new Error('oops')), { code: status.INTERNAL, message: 'internal error: oops' });
  assert.equal(toStatus('weird').code, status.INTERNAL);
});
