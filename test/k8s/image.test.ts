// The poolcsi image (built from the repository's Dockerfile by test/k8s/build-images.sh, with
// buildah and stand-in bases): every program the driver and its node transports run is in it,
// and the host-side tools (iscsiadm, multipath, multipathd, zfs, zpool) are the host-exec wrapper, which refuses to run
// without the host's PID namespace instead of running the image's own by mistake.
// Needs root and buildah; no Kubernetes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { local } from '../../src/exec/index.js';

const LANE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'k8s');
const CACHE = process.env.POOLCSI_K8S_CACHE ?? '/var/tmp/poolcsi-cache/k8s';
const BUILDAH = ['--root', join(CACHE, 'buildah', 'storage'), '--runroot', join(CACHE, 'buildah', 'run'), '--storage-driver', 'overlay'];
const env = { POOLCSI_K8S_CACHE: CACHE };

// Programs src/ runs (grep the runner calls), the tools behind them, and the CLI itself.
const TOOLS = [
  'poolcsi', 'node', 'sh',
  'mount', 'umount', 'findmnt', 'blkid', 'blkdiscard', 'losetup', 'nsenter', 'cp', 'rm', 'dd', 'chattr',
  'mkfs.ext4', 'resize2fs', 'e2fsck', 'mkfs.xfs', 'xfs_growfs', 'xfs_quota', 'mkfs.btrfs', 'btrfs', 'setquota',
  'lvm', 'lvs', 'vgs', 'lvcreate', 'lvchange', 'lvextend', 'lvremove', 'thin_check',
  'rbd', 'ceph', 'python3', 'modprobe', 'multipath', 'mount.nfs', 'ssh',
  'iscsiadm', 'multipathd', 'zfs', 'zpool',
];
const HOST_TOOLS = ['iscsiadm', 'multipath', 'multipathd', 'zfs', 'zpool'];

let container = '';
before(async () => {
  await local.run('bash', [join(LANE, 'build-images.sh'), 'poolcsi'], { timeoutMs: 60 * 60_000, env });
  const key = (await local.run('bash', [join(LANE, 'build-images.sh'), 'poolcsi-key'], { timeoutMs: 60_000, env })).stdout.trim();
  container = (await local.run('buildah', [...BUILDAH, 'from', '--pull=never', `ghcr.io/poolcsi/poolcsi:lane-${key}`], { timeoutMs: 120_000 })).stdout.trim();
}, { timeout: 65 * 60_000 });
after(async () => {
  if (container) await local.run('buildah', [...BUILDAH, 'rm', container], { timeoutMs: 60_000 });
});

const inImage = (script: string) => local.run('buildah', [...BUILDAH, 'run', '--user', '0:0', container, '--', 'sh', '-c', script], { timeoutMs: 120_000, okCodes: [0, 1, 127] });

test('every tool the driver runs is in the image', async () => {
  const r = await inImage(TOOLS.map((t) => `command -v ${t} >/dev/null || echo ${t}`).join('; '));
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), [], 'missing from the image');
});

test('the librbd helper can run in the image: python3 with Ceph\'s bindings, the helper beside the package', async () => {
  // Without them the controller still works, one rbd process per command (a warning says so).
  const r = await inImage('python3 -c "import rados, rbd" && python3 -m py_compile /opt/poolcsi/helpers/librbd-helper.py && echo ok');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});

test('the host tools go through host-exec, which needs hostPID', async () => {
  const r = await inImage(HOST_TOOLS.map((t) => `readlink -f "$(command -v ${t})"`).join('; '));
  assert.deepEqual(r.stdout.trim().split('\n'), HOST_TOOLS.map(() => '/usr/local/lib/poolcsi/host-exec'));
  const z = await inImage('zfs list');
  assert.equal(z.exitCode, 127);
  assert.match(z.stderr, /does not share the host's PID namespace/);
});

test('the CLI runs in the image: version, registrar and health', async () => {
  const r = await inImage('poolcsi version && poolcsi registrar --help && poolcsi health --help');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /Usage: poolcsi registrar/);
});
