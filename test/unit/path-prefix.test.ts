// Issue 10 item 14: --path-prefix holds after symbolic links in parent directories are resolved,
// and the prefix itself is no place to mount a volume.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, realpath, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPathShape, PathError } from '../../src/node/paths.js';

let root: string;
let kubelet: string;
before(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'poolcsi-prefix-')));
  kubelet = join(root, 'kubelet');
  await mkdir(join(kubelet, 'pods', 'uid-1', 'volumes'), { recursive: true });
  await mkdir(join(root, 'outside', 'etc'), { recursive: true });
  // A pod-writable directory under the prefix that points outside it.
  await symlink(join(root, 'outside'), join(kubelet, 'pods', 'uid-1', 'escape'));
  // The prefix itself reached through a link (a kubelet directory on another disk).
  await symlink(kubelet, join(root, 'kubelet-link'));
});

const refused = (path: string, prefixes: string[], re: RegExp) =>
  assert.throws(() => checkPathShape(path, 'target_path', prefixes), (e: Error) => e instanceof PathError && re.test(e.message));

test('a symlink among the parents that leaves the prefix is refused', () => {
  refused(join(kubelet, 'pods', 'uid-1', 'escape', 'etc', 'mount'), [kubelet], /resolves to ".*\/outside\/etc\/mount" through a symbolic link, outside the allowed directories/);
  // Also when the missing tail lies beyond the link.
  refused(join(kubelet, 'pods', 'uid-1', 'escape', 'new', 'deeper', 'mount'), [kubelet], /through a symbolic link/);
});

test('the prefix itself is refused, however it is written', () => {
  refused(kubelet, [kubelet], /is an allowed directory itself/);
  refused(`${kubelet}/`, [kubelet], /is an allowed directory itself/);
  refused(`${kubelet}/pods/..`, [kubelet], /\.\./);
  refused(join(root, 'kubelet-link'), [kubelet], /allowed directory itself|outside/);
});

test('paths inside the prefix pass, resolved; missing components are fine', () => {
  const t = join(kubelet, 'pods', 'uid-1', 'volumes', 'kubernetes.io~csi', 'pv-1', 'mount');
  assert.equal(checkPathShape(t, 'target_path', [kubelet]), t);
  // A prefix given through a link matches paths through the link and through the real directory.
  assert.equal(checkPathShape(join(root, 'kubelet-link', 'pods', 'uid-1', 'volumes', 'x'), 'target_path', [join(root, 'kubelet-link')]), join(kubelet, 'pods', 'uid-1', 'volumes', 'x'));
  refused(join(root, 'outside', 'x'), [kubelet], /outside the allowed directories/);
  // No prefix: the path is only normalized, as before.
  assert.equal(checkPathShape('/a//b/', 'target_path', []), '/a/b');
});
