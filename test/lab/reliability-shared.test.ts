// The reliability harness (test/reliability/) for the shared-storage pool types, in one lab node
// that is its own storage host and client:
// - iscsi: thin LVs exported by LIO, logged in by open-iscsi. The driver is SIGKILLed inside
//   creates, clones, snapshots, expands, deletes, ControllerPublish/Unpublish (ACLs) and
//   NodeStage/NodeUnstage (logins); afterwards no LV, target, storage object or session is left
//   that the CO does not believe in, and none it believes in is missing.
// - iscsi-file: the same with a file backing (image files on an XFS of the node, LIO fileio):
//   no image, state file or LIO object left that the CO does not believe in.
// - nfs: directories on the node's own NFSv4.2 export, read on the server side.
// Then the fuzz, with every program the driver ran checked against the argv grammar. Then the
// outages: the NFS server's nfsd stopped, and the iscsi storage host reached over SSH gone silent.
// In CI (about 6 minutes on a quiet machine, one lab boot for both).
import { after, before, test } from 'node:test';
import { NODE_ENV, startLab, type Lab, type LabNode } from './harness/index.js';
import { runLaneIn, runOutageIn, sized } from './reliability-support.js';

let lab: Lab | undefined;
let node: LabNode;

before(async () => {
  lab = await startLab({ name: 'reliability-shared', nodes: [{ name: 'rel-shared', services: ['lvm', 'nfs', 'iscsi-target', 'iscsi-initiator', 'sshd'], memMiB: 1536 }] });
  node = lab.node('rel-shared');
});

after(async () => {
  await lab?.close();
});

test('nfs: no leaked directory or state, no loss, no crash under SIGKILL and fuzz', { timeout: 30 * 60_000 }, async (t) => {
  await runLaneIn(node, t, 'nfs', sized(20, 150, 1), 25 * 60_000);
});

test('iscsi: no leaked LV, target or session, no loss, no crash under SIGKILL and fuzz', { timeout: 40 * 60_000 }, async (t) => {
  await runLaneIn(node, t, 'iscsi', sized(20, 150, 1), 35 * 60_000);
});

test('iscsi-file: no leaked image, state file, target or session, no loss, no crash under SIGKILL and fuzz', { timeout: 40 * 60_000 }, async (t) => {
  // The backing's filesystem (XFS: reflinked snapshots) on an LV of the node's VG.
  await node.run(['lvcreate', '-q', '-L', '512M', '-n', 'relfiles', 'labvg'], { env: NODE_ENV });
  await node.run(['mkfs.xfs', '-q', '/dev/mapper/labvg-relfiles']);
  await node.run(['mkdir', '-p', '/srv/rel-files']);
  await node.run(['mount', '/dev/mapper/labvg-relfiles', '/srv/rel-files']);
  await runLaneIn(node, t, 'iscsi-file', sized(20, 150, 1), 35 * 60_000);
});

test('nfs: the NFS server away at rest and mid-operation answers UNAVAILABLE in bounded time; the dir pool goes on; back without a restart', { timeout: 15 * 60_000 }, async (t) => {
  // nfsd stopped (its port closed; mountd and rpcbind stay): the controller's soft mount of
  // the export fails its operations within the pool's timeout.
  await runOutageIn(node, t, 'nfs', {
    down: ['rpc.nfsd', '0'], up: ['rpc.nfsd', '8'], ready: ['rpcinfo', '-t', '127.0.0.1', 'nfs', '4'],
  });
});

test('iscsi over SSH: the storage host silent (sshd frozen) at rest and mid-operation answers UNAVAILABLE within the pool\'s ssh.timeoutSeconds; the dir pool goes on; back without a restart', { timeout: 15 * 60_000 }, async (t) => {
  // SIGSTOP on every sshd (the listener and the session of the driver's connection): TCP stays
  // open and nothing answers, as with a partitioned network or a hung host. Only the runner's
  // keepalives and connect deadline can tell.
  const hostKey = (await node.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
  await runOutageIn(node, t, 'iscsi-ssh', {
    down: ['pkill', '-STOP', '-x', 'sshd'], up: ['pkill', '-CONT', '-x', 'sshd'], ready: ['nc', '-z', '127.0.0.1', '22'],
  }, 5, ['--ssh-key', lab!.sshKey, '--ssh-host-key', hostKey]);
});
