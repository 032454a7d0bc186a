// Smoke tests of every storage stack on one lab node (one kernel for all: boots are what
// costs time here). Each test proves the stack works the way the backends will use it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NODE_ENV, startLab, type Lab, type LabNode } from './harness/index.js';
import { blockSize, createFileLun, iscsiLogin, iscsiLogout } from './harness/stacks.js';

const SERVICES = ['lvm', 'iscsi-target', 'iscsi-initiator', 'nfs', 'sshd', 'ceph'] as const;
let lab: Lab | undefined;

before(async () => {
  lab = await startLab({ name: 'stacks', nodes: [{ name: 'node1', services: [...SERVICES], memMiB: 1024 }] });
});

after(async () => {
  await lab?.close();
});

function node(): LabNode {
  assert.ok(lab, 'the lab did not start');
  return lab.node('node1');
}

test('one node boots with every service', (t) => {
  assert.ok(lab);
  const measured = lab.timings.map((x) => x.what);
  assert.deepEqual(measured, ['boot node1', ...SERVICES.map((s) => `${s} on node1`)]);
  for (const line of lab.report()) t.diagnostic(line);
});

test('LVM: thick LV, thin LV, thin snapshot; mkfs and mount each', async (t) => {
  const n = node();
  const started = Date.now();
  await n.run(['lvcreate', '-q', '-L', '64M', '-n', 'thick', 'labvg']);
  await n.run(['lvcreate', '-q', '-V', '1G', '-T', 'labvg/thin', '-n', 'thinvol']);
  for (const lv of ['thick', 'thinvol']) {
    await n.run(['mkfs.ext4', '-q', `/dev/labvg/${lv}`]);
    await n.run(['mkdir', '-p', `/mnt/${lv}`]);
    await n.run(['mount', `/dev/labvg/${lv}`, `/mnt/${lv}`]);
    await n.run(['tee', `/mnt/${lv}/written-by-${lv}`], { input: lv });
  }
  await n.run(['umount', '/mnt/thinvol']);
  // A thin snapshot is created with activation skipped; -K activates it anyway.
  await n.run(['lvcreate', '-q', '-s', '-n', 'snap', 'labvg/thinvol']);
  await n.run(['lvchange', '-q', '-ay', '-K', 'labvg/snap']);
  await n.run(['mkdir', '-p', '/mnt/snap']);
  await n.run(['mount', '-o', 'ro', '/dev/labvg/snap', '/mnt/snap']);
  const seen = await n.run(['ls', '/mnt/snap']);
  assert.match(seen.stdout, /written-by-thinvol/);

  const lvs = await n.run(['lvs', '--noheadings', '--separator', ',', '-o', 'lv_name,pool_lv,origin', 'labvg']);
  const rows = lvs.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  assert.ok(rows.includes('snap,thin,thinvol'), lvs.stdout);
  assert.ok(rows.includes('thinvol,thin,'), lvs.stdout);
  assert.ok(rows.includes('thick,,'), lvs.stdout);

  for (const m of ['/mnt/snap', '/mnt/thick']) await n.run(['umount', m]);
  await n.run(['lvremove', '-q', '-y', 'labvg/snap', 'labvg/thinvol', 'labvg/thick']);
  t.diagnostic(`lvm steps: ${((Date.now() - started) / 1000).toFixed(1)} s (LVM_SYSTEM_DIR=${NODE_ENV.LVM_SYSTEM_DIR})`);
});

test('iSCSI: a LIO LUN, logged in over the loopback, appears as a disk', async (t) => {
  const n = node();
  const started = Date.now();
  const targetIqn = 'iqn.2026-11.org.example:smoke';
  await createFileLun(n, { targetIqn, file: '/run/lab/smoke-lun.img', sizeMiB: 64, initiators: [n.initiatorIqn] });
  const disk = await iscsiLogin(n, '127.0.0.1', targetIqn);
  assert.equal(await blockSize(n, disk), 64 * 1024 * 1024);
  // Through the disk, into the target's backing file.
  await n.run(['dd', `of=${disk}`, 'bs=512', 'conv=sync', 'oflag=direct', 'status=none'], { input: 'node1' });
  const back = await n.run(['head', '-c', '5', '/run/lab/smoke-lun.img']);
  assert.equal(back.stdout, 'node1');
  await iscsiLogout(n, '127.0.0.1', targetIqn);
  await n.run(['targetcli', '/iscsi', 'delete', targetIqn]);
  await n.run(['targetcli', '/backstores/fileio', 'delete', 'smoke']);
  t.diagnostic(`iscsi steps: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('NFS: /srv/nfs mounts as v4.2, v4.1 and v3 at the same path', async (t) => {
  const n = node();
  const started = Date.now();
  await n.run(['tee', '/srv/nfs/from-server'], { input: 'node1\n' });
  for (const [vers, extra] of [['4.2', ''], ['4.1', ''], ['3', ',nolock']] as const) {
    const mnt = `/mnt/nfs-${vers}`;
    await n.run(['mkdir', '-p', mnt]);
    await n.run(['mount', '-t', 'nfs', '-o', `vers=${vers}${extra}`, '127.0.0.1:/srv/nfs', mnt], { timeoutMs: 30_000 });
    const mounts = await n.run(['grep', ` ${mnt} `, '/proc/mounts']);
    assert.match(mounts.stdout, new RegExp(`vers=${vers.replace('.', '\\.')}[,\\s]`));
    assert.equal((await n.run(['cat', `${mnt}/from-server`])).stdout.trim(), 'node1');
    await n.run(['tee', `${mnt}/from-v${vers}`], { input: vers });
    await n.run(['umount', mnt]);
  }
  const files = await n.run(['ls', '/srv/nfs']);
  assert.deepEqual(files.stdout.split('\n').filter(Boolean).sort(), ['from-server', 'from-v3', 'from-v4.1', 'from-v4.2']);
  t.diagnostic(`nfs steps: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('Ceph: rbd create, map (noudev), mkfs, mount, unmap', async (t) => {
  const n = node();
  const started = Date.now();
  const health = await n.run(['ceph', 'osd', 'stat']);
  assert.match(health.stdout, /1 osds: 1 up/);
  await n.run(['rbd', 'create', 'rbd/smoke', '--size', '64M', '--image-feature', 'layering']);
  const map = await n.run(['rbd', 'map', 'rbd/smoke', '-o', 'noudev'], { timeoutMs: 60_000 });
  const dev = map.stdout.trim();
  assert.match(dev, /^\/dev\/rbd\d+$/);
  assert.equal(await blockSize(n, dev), 64 * 1024 * 1024);
  await n.run(['mkfs.ext4', '-q', dev]);
  await n.run(['mkdir', '-p', '/mnt/rbd']);
  await n.run(['mount', dev, '/mnt/rbd']);
  await n.run(['tee', '/mnt/rbd/f'], { input: 'rbd' });
  await n.run(['sync']);
  await n.run(['umount', '/mnt/rbd']);
  await n.run(['rbd', 'unmap', '-o', 'noudev', dev], { timeoutMs: 60_000 });
  await n.run(['rbd', 'rm', 'rbd/smoke']);
  t.diagnostic(`ceph steps: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('sshd: root logs in with the lab key and gets the lab environment', async () => {
  assert.ok(lab);
  const r = await node().run([
    'ssh', '-i', lab.sshKey, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    'root@127.0.0.1', 'hostname; echo $HOME; echo $LVM_SYSTEM_DIR',
  ]);
  assert.deepEqual(r.stdout.trim().split('\n'), ['node1', NODE_ENV.HOME, NODE_ENV.LVM_SYSTEM_DIR]);
});
