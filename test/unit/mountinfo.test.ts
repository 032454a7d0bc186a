import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mountAt, mountContaining, parseMountInfo } from '../../src/sys/mountinfo.js';
import { quotaCommands, projectId } from '../../src/backends/dir/quota.js';
import { checkPathShape, PathError } from '../../src/node/paths.js';

const fixture = new URL('../../../test/fixtures/mountinfo.txt', import.meta.url);

test('mountinfo parsing: bind roots, escapes, super options', async () => {
  const m = parseMountInfo(await readFile(fixture, 'utf8'));
  assert.equal(m.length, 6);
  const bind = mountAt(m, '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/pvc-1/mount')!;
  assert.equal(bind.root, '/srv/pool/volumes/pvc-1');
  assert.equal(bind.source, '/dev/vda');
  assert.ok(mountAt(m, '/tmp/with space'));
  assert.equal(mountContaining(m, '/var/lib/poolcsi/data/volumes/a')!.fsType, 'xfs');
  assert.equal(mountContaining(m, '/etc/passwd')!.mountPoint, '/');
  assert.ok(mountContaining(m, '/var/lib/poolcsi/data')!.superOptions.includes('prjquota'));
});

test('project quota commands for xfs and ext4; none otherwise', () => {
  const id = projectId('local', 'pvc-1');
  assert.equal(id, projectId('local', 'pvc-1'));
  assert.ok(id >= 100_000);
  assert.deepEqual(quotaCommands({ kind: 'xfs', mountPoint: '/data', reason: '' }, '/data/volumes/pvc-1', 123456, 1 << 30), [
    { program: 'xfs_quota', args: ['-x', '-c', 'project -s -p /data/volumes/pvc-1 123456', '/data'] },
    { program: 'xfs_quota', args: ['-x', '-c', 'limit -p bhard=1073741824 123456', '/data'] },
  ]);
  assert.deepEqual(quotaCommands({ kind: 'ext4', mountPoint: '/d', reason: '' }, '/d/v', 7, 4096), [
    { program: 'chattr', args: ['-p', '7', '+P', '/d/v'] },
    { program: 'setquota', args: ['-P', '7', '0', '4', '0', '0', '/d'] },
  ]);
  assert.deepEqual(quotaCommands({ kind: 'none', mountPoint: '/', reason: '' }, '/x', 1, 1), []);
  assert.throws(() => quotaCommands({ kind: 'xfs', mountPoint: '/d', reason: '' }, '/d/a b', 1, 1), /whitespace/);
});

test('staging and target paths are checked before use', () => {
  assert.equal(checkPathShape('/var/lib/kubelet/pods/x/mount/', 'target_path', ['/var/lib/kubelet']), '/var/lib/kubelet/pods/x/mount');
  assert.throws(() => checkPathShape('rel/path', 'target_path', []), PathError);
  assert.throws(() => checkPathShape('/var/lib/kubelet/../../etc', 'target_path', []), /"\.\."/);
  assert.throws(() => checkPathShape('/', 'target_path', []), /"\/"/);
  assert.throws(() => checkPathShape('/etc/x', 'target_path', ['/var/lib/kubelet']), /outside the allowed/);
  assert.throws(() => checkPathShape('/var/lib/kubeletx/y', 'target_path', ['/var/lib/kubelet']), /outside the allowed/);
  assert.throws(() => checkPathShape('/a\0b', 'target_path', []), /NUL/);
});
