// Smoke tests of the three-node set: a storage host and two workers on one virtual Ethernet
// (inside the lab's private namespace). Proves what shared-storage tests need: TCP between
// nodes, SSH to the storage host, one NFS export and one iSCSI LUN and one RBD image used
// from both workers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLab, storageSet, type Lab, type LabNode } from './harness/index.js';
import { pollUntil } from './harness/poll.js';
import { createFileLun, iscsiLogin, iscsiLogout } from './harness/stacks.js';

let lab: Lab | undefined;

before(async () => {
  // Ceph first on the storage host: the workers' ceph-client waits for it.
  lab = await startLab(
    storageSet('network', { storage: ['ceph', 'nfs', 'iscsi-target', 'sshd'], workers: ['iscsi-initiator', 'ceph-client'] }),
  );
});

after(async () => {
  await lab?.close();
});

function nodes(): [LabNode, LabNode, LabNode] {
  assert.ok(lab, 'the lab did not start');
  return [lab.node('storage'), lab.node('worker-1'), lab.node('worker-2')];
}

test('three nodes boot on one Ethernet, each with its address', async (t) => {
  assert.ok(lab);
  for (const line of lab.report()) t.diagnostic(line);
  const [storage, w1, w2] = nodes();
  assert.deepEqual([storage.ip, w1.ip, w2.ip], ['192.168.77.1', '192.168.77.2', '192.168.77.3']);
  const addr = await w1.run(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  assert.match(addr.stdout, /inet 192\.168\.77\.2\/24/);
});

test('TCP from one worker to the other', async () => {
  const [, w1, w2] = nodes();
  const listener = await w1.spawn(['nc', '-l', '-p', '7777'], { logName: 'nc-7777.log' });
  // Wait until the listener is up, then send; no fixed sleep.
  await pollUntil(async () => ((await w1.exec(['sh', '-c', 'ss -ltn | grep -q ":7777 "'])).code === 0 ? true : undefined), {
    timeoutMs: 10_000,
    what: 'nc listening on worker-1',
  });
  await w2.run(['nc', '-N', '-w', '5', w1.ip!, '7777'], { input: 'hello from worker-2\n' });
  const got = await pollUntil(
    async () => ((await w1.exec(['cat', listener.logFile])).stdout.includes('hello') ? true : undefined),
    { timeoutMs: 10_000, what: 'the message on worker-1' },
  );
  assert.equal(got, true);
  await w1.signal(listener.pid, 'SIGKILL');
});

test('SSH from a worker to the storage host', async () => {
  assert.ok(lab);
  const [storage, w1] = nodes();
  const r = await w1.run([
    'ssh', '-i', lab.sshKey, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    `root@${storage.ip}`, 'hostname',
  ]);
  assert.equal(r.stdout.trim(), 'storage');
});

test('NFS: one export mounted on both workers (v4.2 and v4.1), written on one, read on the other', async () => {
  const [storage, w1, w2] = nodes();
  const src = `${storage.ip}:/srv/nfs`;
  await w1.run(['mkdir', '-p', '/mnt/shared']);
  await w2.run(['mkdir', '-p', '/mnt/shared']);
  await w1.run(['mount', '-t', 'nfs', '-o', 'vers=4.2', src, '/mnt/shared'], { timeoutMs: 30_000 });
  await w2.run(['mount', '-t', 'nfs', '-o', 'vers=4.1', src, '/mnt/shared'], { timeoutMs: 30_000 });
  await w1.run(['tee', '/mnt/shared/from-worker-1'], { input: 'written on worker-1\n' });
  assert.equal((await w2.run(['cat', '/mnt/shared/from-worker-1'])).stdout, 'written on worker-1\n');
  assert.equal((await storage.run(['cat', '/srv/nfs/from-worker-1'])).stdout, 'written on worker-1\n');
  await w1.run(['umount', '/mnt/shared']);
  await w2.run(['umount', '/mnt/shared']);
});

test('iSCSI: one LUN logged in on both workers; a block written on one is read on the other', async () => {
  const [storage, w1, w2] = nodes();
  const targetIqn = 'iqn.2026-11.org.example:shared';
  await createFileLun(storage, {
    targetIqn,
    file: '/run/lab/shared-lun.img',
    sizeMiB: 32,
    initiators: [w1.initiatorIqn, w2.initiatorIqn],
  });
  const portal = storage.ip!;
  const [d1, d2] = await Promise.all([iscsiLogin(w1, portal, targetIqn), iscsiLogin(w2, portal, targetIqn)]);
  await w1.run(['dd', `of=${d1}`, 'bs=512', 'conv=sync', 'oflag=direct', 'status=none'], { input: 'shared-block' });
  const read = await w2.run(['dd', `if=${d2}`, 'bs=512', 'count=1', 'iflag=direct', 'status=none']);
  assert.equal(read.stdout.slice(0, 12), 'shared-block');
  await Promise.all([iscsiLogout(w1, portal, targetIqn), iscsiLogout(w2, portal, targetIqn)]);
});

test('Ceph: one RBD image mapped on both workers from the storage host cluster', async () => {
  const [, w1, w2] = nodes();
  await w1.run(['rbd', 'create', 'rbd/shared', '--size', '32M', '--image-feature', 'layering']);
  const map = (n: LabNode): Promise<string> =>
    n.run(['rbd', 'map', 'rbd/shared', '-o', 'noudev'], { timeoutMs: 60_000 }).then((r) => r.stdout.trim());
  const [d1, d2] = await Promise.all([map(w1), map(w2)]);
  await w1.run(['dd', `of=${d1}`, 'bs=512', 'conv=sync', 'oflag=direct', 'status=none'], { input: 'rbd-block' });
  const read = await w2.run(['dd', `if=${d2}`, 'bs=512', 'count=1', 'iflag=direct', 'status=none']);
  assert.equal(read.stdout.slice(0, 9), 'rbd-block');
  await w1.run(['rbd', 'unmap', '-o', 'noudev', d1], { timeoutMs: 60_000 });
  await w2.run(['rbd', 'unmap', '-o', 'noudev', d2], { timeoutMs: 60_000 });
  await w1.run(['rbd', 'rm', 'rbd/shared']);
});
