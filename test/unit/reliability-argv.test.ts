// The reliability harness's argv grammar (test/reliability/core/argv.ts): what the fuzz counts as
// an unchecked value reaching a program. The structured exceptions: the JSON object rbd keeps
// as an image's state (`rbd image-meta set SPEC KEY VALUE`), in that place only, and a zfspool's
// state as the JSON values of its ZFS user properties, and truncate's ">N" size (grow only).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkArgv } from '../reliability/core/argv.js';

const rules = { programs: ['rbd', 'mount'], roots: ['/tmp/rel', '/dev'] };
const line = (program: string, args: string[]) => ({ program, args, time: 0 });

test('argv grammar: tokens, flags, paths under the roots; a state JSON only as image-meta set\'s value', () => {
  const state = JSON.stringify({ v: 1, request: 'pvc-1', params: {}, complete: true });
  assert.deepEqual(checkArgv(line('rbd', ['--id', 'admin', 'image-meta', 'set', 'rbd/pvc-1', 'poolcsi.io/volume', state]), rules), []);
  assert.equal(checkArgv(line('rbd', ['image-meta', 'set', 'rbd/pvc-1', state, 'x']), rules).length, 1, 'not in the value place');
  assert.equal(checkArgv(line('rbd', ['image-meta', 'set', 'rbd/pvc-1', 'poolcsi.io/volume', '["a"]']), rules).length, 1, 'an array is not a state');
  assert.equal(checkArgv(line('mount', ['-o', 'bind', '{"a":1}']), rules).length, 1, 'JSON anywhere else is outside the grammar');
  assert.equal(checkArgv(line('rbd', ['image-meta', 'set', 'rbd/x', 'k', '{"a":"\n"}']), rules).length, 1, 'control characters stay refused');
  assert.deepEqual(checkArgv(line('mount', ['/tmp/rel/a', '/dev/sda']), rules), []);
  assert.equal(checkArgv(line('mount', ['/etc/passwd']), rules).length, 1);
  assert.equal(checkArgv(line('mount', ['$(id)']), rules).length, 1);
});

test('argv grammar: a zfspool\'s state as zfs user properties, a JSON value after poolcsi.io:KEY=, for zfs only', () => {
  const z = { programs: ['zfs', 'mount'], roots: ['/tmp/rel', '/tank/k8s'] };
  assert.deepEqual(checkArgv(line('zfs', ['create', '-o', 'poolcsi.io:params={"sparse":"true"}', '-o', 'poolcsi.io:volume="pvc-1"', 'tank/k8s/pvc-1']), z), []);
  assert.equal(checkArgv(line('zfs', ['set', 'poolcsi.io:params={"a":', 'tank/k8s/x']), z).length, 1, 'a value that is not JSON');
  assert.equal(checkArgv(line('zfs', ['set', 'other:params={"a":1}', 'tank/k8s/x']), z).length, 1, 'only the driver\'s own properties');
  assert.equal(checkArgv(line('mount', ['poolcsi.io:params={"a":1}']), z).length, 1, 'only for zfs');
});

test('argv grammar: `truncate -s >N` (grow to at least N bytes, the iscsi file store), a number only, for truncate only', () => {
  const f = { programs: ['truncate', 'mount'], roots: ['/srv/files'] };
  assert.deepEqual(checkArgv(line('truncate', ['-s', '>67108864', '--', '/srv/files/p/volumes/v/disk.img']), f), []);
  assert.equal(checkArgv(line('truncate', ['-s', '>1;id', '--', '/srv/files/x']), f).length, 1, 'a number only');
  assert.equal(checkArgv(line('truncate', ['>5', '/srv/files/x']), f).length, 1, 'only as the size');
  assert.equal(checkArgv(line('mount', ['-s', '>5']), f).length, 1, 'only for truncate');
});
