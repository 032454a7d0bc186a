// iscsi pools: the exact targetcli and iscsiadm argv, the names both sides derive, targetcli's
// refusals and the sysfs view of a session, all checked against what the lab's real tools
// printed (test/fixtures/iscsi).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createAclCmd, createBackstoreCmd, createLunCmd, createTargetCmd, deleteAclCmd, deleteBackstoreCmd, deleteTargetCmd,
  isAlreadyThere, isNotThere, saveConfigCmd,
} from '../../src/backends/iscsi/targetcli.js';
import { lunRef } from '../../src/backends/iscsi/names.js';
import { iscsiNodeContext } from '../../src/backends/iscsi/context.js';
import { initiatorIqnFor, isValidIqn } from '../../src/node/transports/iscsi-names.js';
import { iscsiSessions } from '../../src/node/transports/iscsi-sysfs.js';
import { IscsiTransport, loginArgs, logoutArgs, nodeDeleteArgs, portalOf, rescanArgs, ifaceInitiatorArgs } from '../../src/node/transports/iscsi.js';
import { local } from '../../src/exec/index.js';
import { PoolSchema, type IscsiPool } from '../../src/pools/schema.js';
import { fixture } from '../helpers/fixtures.js';

const POOL = PoolSchema.parse({
  id: 'san', type: 'iscsi', portals: ['192.168.77.1:3260'], iqnPrefix: 'iqn.2003-01.org.example.lab',
  backing: { type: 'lvmthin', vgname: 'labvg', thinpool: 'thin' }, local: true,
}) as IscsiPool;

test('targetcli argv: one command per run, under the host-wide lock, no shell', () => {
  const lock = ['flock', '-w', '240', '/run/poolcsi-targetcli.lock', 'targetcli'];
  const argv = (p: { program: string; args: string[] }) => [p.program, ...p.args];
  assert.deepEqual(argv(createBackstoreCmd('san.vol1', '/dev/mapper/labvg-vol1')), [...lock, '/backstores/block', 'create', 'name=san.vol1', 'dev=/dev/mapper/labvg-vol1']);
  assert.deepEqual(argv(createTargetCmd('iqn.2003-01.org.example.lab:san.vol1')), [...lock, '/iscsi', 'create', 'iqn.2003-01.org.example.lab:san.vol1']);
  assert.deepEqual(argv(createLunCmd('iqn.x:t', 'san.vol1', 0)), [...lock, '/iscsi/iqn.x:t/tpg1/luns', 'create', '/backstores/block/san.vol1', 'lun=0']);
  assert.deepEqual(argv(createAclCmd('iqn.x:t', 'iqn.y:n')), [...lock, '/iscsi/iqn.x:t/tpg1/acls', 'create', 'iqn.y:n']);
  assert.deepEqual(argv(deleteAclCmd('iqn.x:t', 'iqn.y:n')), [...lock, '/iscsi/iqn.x:t/tpg1/acls', 'delete', 'iqn.y:n']);
  assert.deepEqual(argv(deleteTargetCmd('iqn.x:t')), [...lock, '/iscsi', 'delete', 'iqn.x:t']);
  assert.deepEqual(argv(deleteBackstoreCmd('san.vol1')), [...lock, '/backstores/block', 'delete', 'san.vol1']);
  assert.deepEqual(argv(saveConfigCmd()), [...lock, 'saveconfig']);
});

test("targetcli's recorded refusals: each 'exists' is a retry's success, each 'not there' a delete's", () => {
  const lines = fixture('iscsi/targetcli-refusals.txt').split('\n').filter((l) => l && !l.startsWith('#'));
  const exists = lines.filter(isAlreadyThere);
  const gone = lines.filter(isNotThere);
  assert.equal(exists.length, 4, exists.join('\n'));
  assert.equal(gone.length, 4, gone.join('\n'));
  assert.deepEqual(exists.filter(isNotThere), [], 'no line is both');
});

test('names: target per volume under the pool prefix, initiator from the node id, context and publish agree', () => {
  const ref = lunRef(POOL, 'pvc-0a1b');
  assert.deepEqual(ref, { target: 'iqn.2003-01.org.example.lab:san.pvc-0a1b', backstore: 'san.pvc-0a1b', lun: 0 });
  assert.ok(isValidIqn(ref.target));
  // A name an IQN cannot hold as it is (uppercase, "_") is hashed, still a valid IQN.
  const odd = lunRef(POOL, 'Sanity_Vol+1');
  assert.match(odd.target, /^iqn\.2003-01\.org\.example\.lab:h\.[0-9a-f]{24}$/);
  assert.equal(initiatorIqnFor('worker-1'), 'iqn.2026-12.io.poolcsi:node.worker-1');
  assert.ok(isValidIqn(initiatorIqnFor('A_Node')));
  assert.notEqual(initiatorIqnFor('a'), initiatorIqnFor('A'));
  assert.deepEqual(iscsiNodeContext(POOL, 'pvc-0a1b'), {
    transport: 'iscsi', descriptor: { target: 'iqn.2003-01.org.example.lab:san.pvc-0a1b', lun: '0', portals: '192.168.77.1:3260' },
  });
});

test('schema: exactly one of ssh and local; one portal; lowercase IQN prefix', () => {
  const base = { id: 'san', type: 'iscsi', portals: ['10.0.0.1'], iqnPrefix: 'iqn.2003-01.org.example', backing: { type: 'lvmthin', vgname: 'vg', thinpool: 'tp' } };
  assert.equal(PoolSchema.safeParse(base).success, false, 'neither ssh nor local');
  assert.equal(PoolSchema.safeParse({ ...base, local: true }).success, true);
  assert.equal(PoolSchema.safeParse({ ...base, local: true, iqnPrefix: 'iqn.2003-01.Org.Example' }).success, false);
  assert.equal(PoolSchema.safeParse({ ...base, local: true, portals: ['a', 'b'] }).success, false);
});

test('iscsiadm argv: our own interface on every node record, login and logout', () => {
  assert.deepEqual(ifaceInitiatorArgs('iqn.2026-12.io.poolcsi:node.n1'), ['-m', 'iface', '-I', 'poolcsi', '-o', 'update', '-n', 'iface.initiatorname', '-v', 'iqn.2026-12.io.poolcsi:node.n1']);
  assert.deepEqual(loginArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '--login']);
  assert.deepEqual(logoutArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '--logout']);
  assert.deepEqual(nodeDeleteArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '-o', 'delete']);
  assert.deepEqual(rescanArgs(3), ['-m', 'session', '-r', '3', '--rescan']);
  assert.deepEqual(portalOf('10.0.0.1'), { host: '10.0.0.1', port: 3260, arg: '10.0.0.1:3260' });
  assert.deepEqual(portalOf('[fd00::1]:3261'), { host: '[fd00::1]', port: 3261, arg: '[fd00::1]:3261' });
});

/** A sysfs tree rebuilt from the lab recording. */
function recordedSysfs(): string {
  const root = mkdtempSync(join(tmpdir(), 'iscsi-sysfs-'));
  for (const line of fixture('iscsi/sysfs-session.txt').split('\n')) {
    const m = /^([FD]) \/sys(\/[^=]+?)(?:=(.*))?$/.exec(line);
    if (!m) continue;
    const path = join(root, m[2]!);
    if (m[1] === 'D') mkdirSync(path, { recursive: true });
    else { mkdirSync(dirname(path), { recursive: true }); writeFileSync(path, `${m[3] ?? ''}\n`); }
  }
  return root;
}

test('sysfs: the recorded session, its connection and its one LUN', async () => {
  const root = recordedSysfs();
  try {
    assert.deepEqual((await iscsiSessions(root)).map(({ luns, ...s }) => ({ ...s, luns: luns.map(({ dir: _d, ...l }) => l) })), [{
      sid: 1, target: 'iqn.2003-01.org.example.lab:vol1', initiator: 'iqn.2026-12.io.poolcsi:node.node1', iface: 'poolcsi',
      state: 'LOGGED_IN', address: '127.0.0.1', port: 3260, luns: [{ hctl: '0:0:0:0', lun: 0, disk: 'sda', state: 'running' }],
    }]);
    const t = new IscsiTransport(local, { sysfs: root });
    const s = { descriptor: { target: 'iqn.2003-01.org.example.lab:vol1', lun: '0', portals: '127.0.0.1:3260' }, stash: {}, path: '/dev/sda' };
    assert.deepEqual(await t.condition(s), { abnormal: false, message: 'logged in to iqn.2003-01.org.example.lab:vol1; LUN 0 is sda' });
    assert.equal((await t.condition({ ...s, descriptor: { ...s.descriptor, lun: '1' } })).abnormal, true);
    // An existing session is joined (no iscsiadm run: `local` would fail on this host without open-iscsi).
    const a = await t.attach(s.descriptor, { publishContext: { initiator: 'iqn.2026-12.io.poolcsi:node.node1' }, readonly: false });
    assert.deepEqual(a, { kind: 'device', path: '/dev/sda', stash: { disk: 'sda' } });
    await assert.rejects(t.attach(s.descriptor, { publishContext: {}, readonly: false }), /publish_context "initiator"/);
    await assert.rejects(t.attach(s.descriptor, { publishContext: { initiator: 'iqn.2026-12.io.poolcsi:node.other' }, readonly: false }), /uses initiator/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('descriptor values from a PV spec are checked', () => {
  const t = new IscsiTransport(local);
  assert.throws(() => t.parse({ target: 'iqn.x:t;rm', lun: '0', portals: '1.2.3.4' }), /iscsi.target/);
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '-1', portals: '1.2.3.4' }), /iscsi.lun/);
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: '-oProxy=x' }), /iscsi.portals/);
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: '1.2.3.4', extra: 'x' }), /unknown key/);
});
