// Access control of an `iscsi` pool on the lab's real LIO target and open-iscsi initiator
// (issue 14): CHAP one-way and mutual (credentials from the CSI secrets, set on the LUN's ACL
// from stdin and in the node's iscsiadm record, never in argv or a log), a wrong secret
// refused with PERMISSION_DENIED and no record left with it, a read-only publish that LIO
// itself write-protects (the node's disk is read-only, not only its bind mount), and a target
// restart that restores what two concurrent creates saved. A thick-LV backing and a file backing
// (image files on XFS, LIO fileio): snapshot, clone, expand and delete through the same exporter.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NODE_ENV, startLab, type Lab, type LabNode } from './harness/index.js';
import { startDriver, type NodeDriver } from './harness/driver.js';
import { attempt, blockCap, createReq, MiB, must } from './lvm/setup.js';

const NODE = 'iscsi-access';
const FILES = '/srv/luns';
const USER = 'iqn-user-1';
const PASSWORD = 'Pw-sekret-0123456789';
const TARGET_USER = 'target-user-1';
const TARGET_PASSWORD = 'Tg-sekret-9876543210';
const chapSecrets = (password = PASSWORD) => ({ 'node.session.auth.username': USER, 'node.session.auth.password': password });
const mutualSecrets = (passwordIn = TARGET_PASSWORD) => ({ ...chapSecrets(), 'node.session.auth.username_in': TARGET_USER, 'node.session.auth.password_in': passwordIn });

let lab: Lab;
let node: LabNode;
let driver: NodeDriver;

before(async () => {
  lab = await startLab({ name: 'iscsi-access', nodes: [{ name: NODE, services: ['lvm', 'sshd', 'iscsi-target', 'iscsi-initiator'], memMiB: 1024 }] });
  node = lab.node(NODE);
  const hostKey = (await node.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
  const key = (await node.run(['sh', '-c', 'echo "$LAB_SHARED_DIR/ssh/id_ed25519"'])).stdout.trim();
  // The file backing's filesystem: XFS (reflink by default; 300 MB at least) on an LV of the node's VG.
  await node.run(['lvcreate', '-q', '-L', '512M', '-n', 'luns', 'labvg'], { env: NODE_ENV });
  await node.run(['mkfs.xfs', '-q', '/dev/mapper/labvg-luns']);
  await node.run(['mkdir', '-p', FILES]);
  await node.run(['mount', '/dev/mapper/labvg-luns', FILES]);
  const poolsFile = join(node.runDir, 'pools.yaml');
  writeFileSync(poolsFile, JSON.stringify({
    pools: [{
      id: 'san', type: 'iscsi', portals: ['127.0.0.1:3260'], iqnPrefix: 'iqn.2003-01.org.example.lab',
      backing: { type: 'lvmthin', vgname: 'labvg', thinpool: 'thin' }, ssh: { host: '127.0.0.1', privateKey: { file: key }, hostKey },
      chap: {},
    }, {
      id: 'thick', type: 'iscsi', portals: ['127.0.0.1:3260'], iqnPrefix: 'iqn.2003-01.org.example.lab',
      backing: { type: 'lvm', vgname: 'labvg' }, ssh: { host: '127.0.0.1', privateKey: { file: key }, hostKey },
    }, {
      id: 'files', type: 'iscsi', portals: ['127.0.0.1:3260'], iqnPrefix: 'iqn.2003-01.org.example.lab',
      backing: { type: 'file', path: FILES }, ssh: { host: '127.0.0.1', privateKey: { file: key }, hostKey },
    }],
  }));
  driver = await startDriver(node, { nodeId: NODE, poolsFile });
});

after(async () => {
  await lab?.close();
});

const configfs = (p: string) => `/sys/kernel/config/target/iscsi/${p}`;

async function records(target: string): Promise<string> {
  return (await node.exec(['find', `/etc/iscsi/nodes/${target}`, '-type', 'f', '-printf', '%m %p\n'])).stdout.trim();
}

/** Create and publish (with `secrets`) a block volume; returns what later steps need. */
async function published(name: string, secrets: Record<string, string>, readonly = false, beforePublish?: (id: string) => Promise<void>) {
  const created = await must(driver, 'Controller.CreateVolume', createReq(name, 'san', 32 * MiB, { volume_capabilities: [blockCap] }));
  const id: string = created.volume.volume_id;
  const context: Record<string, string> = created.volume.volume_context;
  await beforePublish?.(id);
  const pub = await must(driver, 'Controller.ControllerPublishVolume', { volume_id: id, node_id: NODE, volume_capability: blockCap, readonly, volume_context: context, secrets });
  const staging = `/run/lab/k/${name}/staging`;
  await node.run(['mkdir', '-p', staging]);
  return { id, context, publishContext: pub.publish_context as Record<string, string>, staging, target: context['iscsi.target']! };
}

async function cleanUp(v: { id: string; staging: string }): Promise<void> {
  await must(driver, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: v.staging });
  await must(driver, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: NODE });
  await must(driver, 'Controller.DeleteVolume', { volume_id: v.id });
}

const stageReq = (v: Awaited<ReturnType<typeof published>>, secrets: Record<string, string>) => ({
  volume_id: v.id, staging_target_path: v.staging, volume_capability: blockCap, volume_context: v.context, publish_context: v.publishContext, secrets,
});

test('CHAP one-way: the ACL holds the credentials, a wrong secret is PERMISSION_DENIED and leaves no record, the right one logs in', async () => {
  const v = await published('chap-1', chapSecrets(), false, async (id) => {
    const bare = await attempt(driver, 'Controller.ControllerPublishVolume', { volume_id: id, node_id: NODE, volume_capability: blockCap });
    assert.equal(bare.code, 'INVALID_ARGUMENT', `a publish without CHAP secrets in a CHAP pool: ${bare.code}: ${bare.details}`);
  });
  assert.equal((await node.run(['cat', configfs(`${v.target}/tpgt_1/attrib/authentication`)])).stdout.trim(), '1', 'the target requires CHAP');
  const acl = configfs(`${v.target}/tpgt_1/acls/${v.publishContext.initiator}/auth`);
  assert.equal((await node.run(['cat', `${acl}/userid`])).stdout.trim(), USER);

  const wrong = await attempt(driver, 'Node.NodeStageVolume', stageReq(v, chapSecrets('not-the-password')));
  assert.equal(wrong.code, 'PERMISSION_DENIED', `a wrong CHAP secret: ${wrong.code}: ${wrong.details}`);
  assert.match(wrong.details ?? '', /CHAP/);
  assert.equal(await records(v.target), '', 'the failed login left no node record (with its password) behind');

  await must(driver, 'Node.NodeStageVolume', stageReq(v, chapSecrets()));
  const recs = await records(v.target);
  assert.match(recs, /^600 /m, `the node record is root-only: ${recs}`);
  const disk = JSON.parse((await node.run(['cat', `${v.staging}/poolcsi-stage.json`])).stdout).attached.stash.disk as string;
  assert.equal((await node.exec(['dd', 'if=/dev/zero', `of=/dev/${disk}`, 'bs=1M', 'count=1', 'oflag=direct', 'status=none'])).code, 0, 'the LUN writes');
  await cleanUp(v);
  assert.equal(await records(v.target), '', 'the unstage removed the record');
});

test('CHAP mutual: the node checks the target too; a wrong target secret fails the login', async () => {
  const v = await published('chap-2', mutualSecrets());
  const acl = configfs(`${v.target}/tpgt_1/acls/${v.publishContext.initiator}/auth`);
  assert.equal((await node.run(['cat', `${acl}/userid_mutual`])).stdout.trim(), TARGET_USER);
  const wrong = await attempt(driver, 'Node.NodeStageVolume', stageReq(v, mutualSecrets('not-the-target')));
  assert.equal(wrong.ok, false, 'the initiator must refuse a target that does not know the mutual secret');
  assert.equal(await records(v.target), '');
  await must(driver, 'Node.NodeStageVolume', stageReq(v, mutualSecrets()));
  await cleanUp(v);
});

test('a read-only publish is write-protected by LIO: the node sees a read-only disk', async () => {
  const v = await published('ro-1', chapSecrets(), true);
  assert.equal((await node.run(['cat', configfs(`${v.target}/tpgt_1/acls/${v.publishContext.initiator}/lun_0/write_protect`)])).stdout.trim(), '1');
  await must(driver, 'Node.NodeStageVolume', stageReq(v, chapSecrets()));
  const disk = JSON.parse((await node.run(['cat', `${v.staging}/poolcsi-stage.json`])).stdout).attached.stash.disk as string;
  assert.equal((await node.run(['cat', `/sys/block/${disk}/ro`])).stdout.trim(), '1', 'the SCSI disk reports write protection');
  const w = await node.exec(['dd', 'if=/dev/zero', `of=/dev/${disk}`, 'bs=1M', 'count=1', 'oflag=direct', 'status=none']);
  assert.notEqual(w.code, 0, 'a write to the disk itself is refused');
  await cleanUp(v);
});

test('a target restart (targetctl clear, then the restore the target service runs at boot) brings back two volumes made at once, with ACLs and CHAP', async () => {
  const [a, b] = await Promise.all([published('restart-a', chapSecrets()), published('restart-b', chapSecrets())]);
  const serial = async (v: { target: string }) => (await node.run(['sh', '-c', 'cat "$(readlink -f "$(find "$1" -maxdepth 1 -type l)")/wwn/vpd_unit_serial"', 'sh', configfs(`${v.target}/tpgt_1/lun/lun_0`)])).stdout.trim();
  const before = [await serial(a), await serial(b)];
  assert.notEqual(before[0], before[1], 'each LUN has its own SCSI id');
  await node.run(['targetctl', 'clear']);
  assert.equal((await node.exec(['test', '-d', configfs(a.target)])).code, 1, 'the kernel forgot the targets');
  await node.run(['targetctl', 'restore']);
  assert.deepEqual([await serial(a), await serial(b)], before, 'both LUNs back, with the same SCSI ids');
  for (const v of [a, b]) {
    assert.equal((await node.run(['cat', configfs(`${v.target}/tpgt_1/acls/${v.publishContext.initiator}/auth/userid`)])).stdout.trim(), USER);
  }
  await must(driver, 'Node.NodeStageVolume', stageReq(b, chapSecrets()));
  await cleanUp(b);
  await must(driver, 'Node.NodeStageVolume', stageReq(a, chapSecrets()));
  await cleanUp(a);
});

/** A block volume of `pool`, published to and staged on the node; its disk's name there. */
async function attachDisk(pool: string, name: string, req: object) {
  const created = await must(driver, 'Controller.CreateVolume', { ...createReq(name, pool, 32 * MiB, { volume_capabilities: [blockCap] }), ...req });
  const v = { id: created.volume.volume_id as string, context: created.volume.volume_context as Record<string, string>, staging: `/run/lab/k/${name}/staging` };
  const pub = await must(driver, 'Controller.ControllerPublishVolume', { volume_id: v.id, node_id: NODE, volume_capability: blockCap, volume_context: v.context });
  await node.run(['mkdir', '-p', v.staging]);
  await must(driver, 'Node.NodeStageVolume', { volume_id: v.id, staging_target_path: v.staging, volume_capability: blockCap, volume_context: v.context, publish_context: pub.publish_context });
  const disk = JSON.parse((await node.run(['cat', `${v.staging}/poolcsi-stage.json`])).stdout).attached.stash.disk as string;
  return { ...v, disk, target: v.context['iscsi.target']! };
}
const firstMiB = async (disk: string) => (await node.run(['sh', '-c', 'dd if="$1" bs=1M count=1 iflag=direct status=none | sha256sum', 'sh', `/dev/${disk}`])).stdout.split(' ')[0];
const sizeOf = async (disk: string) => Number((await node.run(['cat', `/sys/block/${disk}/size`])).stdout.trim()) * 512;

/**
 * Through one backing: write on a, snapshot, a 48 MiB clone of the snapshot holding its data,
 * the snapshot deleted (the clone keeps its data), a grown to 64 MiB as the node sees it, then
 * `between` (still staged), unstage, unpublish, delete.
 */
async function snapshotCloneExpand(pool: string, prefix: string, hooks: { snapshotted?: () => Promise<void>; between?: (a: Awaited<ReturnType<typeof attachDisk>>) => Promise<void> }) {
  const a = await attachDisk(pool, `${prefix}-a`, {});
  await node.run(['dd', 'if=/dev/urandom', `of=/dev/${a.disk}`, 'bs=1M', 'count=1', 'oflag=direct', 'status=none']);
  const written = await firstMiB(a.disk);
  const snap = await must(driver, 'Controller.CreateSnapshot', { source_volume_id: a.id, name: `${prefix}-a-snap` });
  await hooks.snapshotted?.();
  const b = await attachDisk(pool, `${prefix}-b`, {
    capacity_range: { required_bytes: String(48 * MiB) },
    volume_content_source: { snapshot: { snapshot_id: snap.snapshot.snapshot_id } },
  });
  assert.equal(await firstMiB(b.disk), written, 'the clone holds the snapshot\'s data');
  assert.equal(await sizeOf(b.disk), 48 * MiB, 'the clone has the size asked for, larger than its source');
  // (LVM cannot grow the origin of a copy-on-write snapshot: the snapshot goes first.)
  await must(driver, 'Controller.DeleteSnapshot', { snapshot_id: snap.snapshot.snapshot_id });
  assert.equal(await firstMiB(b.disk), written, 'the clone does not depend on the snapshot');
  await must(driver, 'Controller.ControllerExpandVolume', { volume_id: a.id, capacity_range: { required_bytes: String(64 * MiB) }, volume_capability: blockCap });
  await must(driver, 'Node.NodeExpandVolume', { volume_id: a.id, volume_path: a.staging, staging_target_path: a.staging, capacity_range: { required_bytes: String(64 * MiB) }, volume_capability: blockCap });
  assert.equal(await sizeOf(a.disk), 64 * MiB, 'the node sees the grown LUN');
  assert.equal(await firstMiB(a.disk), written, 'the data survived the expand');
  await hooks.between?.(a);
  for (const v of [a, b]) {
    await must(driver, 'Node.NodeUnstageVolume', { volume_id: v.id, staging_target_path: v.staging });
    await must(driver, 'Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: NODE });
  }
  for (const v of [a, b]) await must(driver, 'Controller.DeleteVolume', { volume_id: v.id });
  for (const v of [a, b]) assert.equal((await node.exec(['test', '-e', configfs(v.target)])).code, 1, `target ${v.target} is gone`);
}

test('an lvm (thick LV) backing: a snapshot, a larger clone with its data, an expand the node sees, and a delete that leaves no LV or target', async () => {
  const ours = async () => (await node.run(['lvs', '--noheadings', '-o', 'lv_attr,lv_name,lv_tags', 'labvg'], { env: NODE_ENV })).stdout.split('\n').filter((l) => l.includes('poolcsi.io/pool=thick'));
  await snapshotCloneExpand('thick', 'thick', {
    snapshotted: async () => assert.equal((await ours()).filter((l) => /^\s*s/.test(l)).length, 1, `the snapshot is a copy-on-write LV (attr s):\n${(await ours()).join('\n')}`),
  });
  assert.deepEqual(await ours(), [], 'no LV of the thick pool is left');
});

test('a file backing (image files on XFS, LIO fileio): reflinked snapshot and clone, an expand the node sees and the saved configuration keeps, a delete that leaves no file or target', async () => {
  const tree = async () => (await node.run(['find', `${FILES}/files`, '-mindepth', '2'])).stdout.split('\n').filter(Boolean).sort();
  await snapshotCloneExpand('files', 'file', { between: async (a) => {
    const so = (await node.run(['sh', '-c', 'readlink -f "$(find "$1" -maxdepth 1 -type l)"', 'sh', configfs(`${a.target}/tpgt_1/lun/lun_0`)])).stdout.trim();
    assert.match(so, /\/core\/fileio_\d+\//, 'the LUN is a fileio storage object');
    const info = async () => (await node.run(['cat', `${so}/info`])).stdout;
    assert.match(await info(), new RegExp(`File: ${FILES}/files/volumes/file-a/disk\\.img\\s+Size: ${64 * MiB}`), 'LIO was told the grown size');
    // What the target service restores at boot: the file and its grown size.
    const saved = JSON.parse((await node.run(['cat', '/etc/rtslib-fb-target/saveconfig.json'])).stdout) as { storage_objects: Array<{ plugin: string; dev: string; size: number; write_back: boolean }> };
    const entry = saved.storage_objects.find((o) => o.dev === `${FILES}/files/volumes/file-a/disk.img`);
    assert.deepEqual(entry && { plugin: entry.plugin, size: entry.size, writeBack: entry.write_back }, { plugin: 'fileio', size: 64 * MiB, writeBack: true });
    const files = ['file-a', 'file-b'].flatMap((v) => [`volumes/${v}`, `volumes/${v}/disk.img`, `volumes/${v}/state.json`]);
    assert.deepEqual(await tree(), files.map((f) => `${FILES}/files/${f}`).sort(), 'an image and a state per volume, nothing else');
  } });
  assert.deepEqual(await tree(), [], 'no image or state file of the pool is left');
});

test('no CHAP secret reached an argv or a log line', () => {
  const log = readFileSync(driver.logFile, 'utf8');
  assert.ok(log.includes('"program":"dd"'), 'the log records the runs (else this proves nothing)');
  for (const s of [PASSWORD, TARGET_PASSWORD, 'not-the-password', 'not-the-target']) assert.equal(log.includes(s), false, `"${s}" is in ${driver.logFile}`);
});
