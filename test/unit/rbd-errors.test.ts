// rbd/ceph failures (stderr and exit codes recorded from real runs) to StorageErrors and CSI codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { cephError, errnoOf, type Target } from '../../src/backends/rbd/errors.js';
import { toStatus } from '../../src/csi/errors.js';
import { ExecError } from '../../src/exec/errors.js';

const FIXTURES = new URL('../../../test/fixtures/rbd/', import.meta.url);
const T: Target = { pool: 'kube', poolId: 'ceph', user: 'csi', monhost: ['10.0.0.1:6789'], timeoutSeconds: 10 };

function recorded(name: string, program = 'rbd'): ExecError {
  const stderr = readFileSync(new URL(`${name}.stderr`, FIXTURES), 'utf8');
  const code = Number(readFileSync(new URL(`${name}.code`, FIXTURES), 'utf8').trim());
  return new ExecError(program, ['info'], code, stderr, '', 'exit');
}

const cases: Array<[string, string, string, status]> = [
  ['err-enoent', 'rbd', 'not-found', status.NOT_FOUND],
  ['err-denied', 'rbd', 'denied', status.PERMISSION_DENIED],
  ['err-badkey', 'rbd', 'denied', status.PERMISSION_DENIED],
  ['err-timeout', 'rbd', 'unavailable', status.UNAVAILABLE],
  ['err-linked-clones', 'rbd', 'precondition', status.FAILED_PRECONDITION],
  ['err-has-snapshots', 'rbd', 'precondition', status.FAILED_PRECONDITION],
  ['err-trash-rm-busy', 'rbd', 'precondition', status.FAILED_PRECONDITION],
  ['err-watchers', 'rbd', 'precondition', status.FAILED_PRECONDITION],
  ['err-ceph-denied', 'ceph', 'denied', status.PERMISSION_DENIED],
  ['err-ceph-timeout', 'ceph', 'unavailable', status.UNAVAILABLE],
];

for (const [name, program, kind, code] of cases) {
  test(`${name} → ${kind}`, () => {
    const e = cephError(recorded(name, program), `${program} info kube/pvc-1`, T);
    assert.equal(e.kind, kind);
    assert.equal(toStatus(e).code, code);
    assert.match(e.message, new RegExp(`${program} info kube/pvc-1`), 'names what failed');
  });
}

test('messages say what to do: whose key, which monitors, how long', () => {
  assert.match(cephError(recorded('err-denied'), 'rbd ls', T).message, /Ceph refused client\.csi for pool kube \(wrong key, unknown user or missing caps\)/);
  assert.match(cephError(recorded('err-timeout'), 'rbd ls', T).message, /monitors 10\.0\.0\.1:6789 did not answer within 10 s/);
});

test('the exec deadline and a missing rbd binary', () => {
  const timeout = cephError(new ExecError('rbd', [], undefined, '', '', 'timeout'), 'rbd ls', T);
  assert.equal(toStatus(timeout).code, status.UNAVAILABLE);
  const missing = cephError(new ExecError('rbd', [], undefined, '', '', 'not-found'), 'rbd ls', T);
  assert.equal(toStatus(missing).code, status.FAILED_PRECONDITION);
  assert.match(missing.message, /ceph-common/);
});

test('ceph (python) exits 1 for many things; only "[errno N]" says which', () => {
  assert.equal(errnoOf(recorded('err-ceph-denied', 'ceph')), 13);
  assert.equal(errnoOf(new ExecError('ceph', [], 1, 'Error EINVAL: bad\n', '', 'exit')), undefined);
  assert.equal(cephError(new ExecError('ceph', [], 1, 'Error EINVAL: bad\n', '', 'exit'), 'ceph df', T).kind, 'internal');
  assert.equal(errnoOf(recorded('err-enoent')), 2);
});

test('an image still mapped somewhere: the message keeps "watchers" (Images.remove names it in use)', () => {
  assert.match(cephError(recorded('err-watchers'), 'rbd rm kube/pvc-1', T).message, /still has watchers/);
});

test('ESTALE (the image removed by another client during the command) is busy: ABORTED, the CO retries', () => {
  // What the librbd helper answered for `rbd rm` racing another removal (rbd-safety, item 4).
  const e = cephError(new ExecError('rbd', ['rm'], 116, 'rbd: OSError: [errno 116] error removing image', '', 'exit'), 'rbd rm kube/pvc-1', T);
  assert.equal(e.kind, 'busy');
  assert.equal(toStatus(e).code, status.ABORTED);
});
