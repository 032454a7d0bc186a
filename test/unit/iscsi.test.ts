// iscsi pools: the exact configfs and iscsiadm argv, the names both sides derive, the refusals
// of coreutils on configfs and the sysfs view of a session, all checked against what the lab's real tools
// printed (test/fixtures/iscsi).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  aclDir, hbaDir, hbaFor, preferredHba, HBA_BASE, linkCmd, lunDir, mkdirCmd, npDir, onlyExisting, onlyMissing, onlyMissingOrSharedHba, parseCore,
  parseRead, parseTpg, saveCmd, savedMentionsCmd, tpgDir, unlinkAllCmd, writeCmd, SAVED_CONFIG,
} from '../../src/backends/iscsi/configfs.js';
import { HostGate, Lio, Saver } from '../../src/backends/iscsi/lio.js';
import { lunRef } from '../../src/backends/iscsi/names.js';
import { iscsiNodeContext } from '../../src/backends/iscsi/context.js';
import { hasChap, parseChap } from '../../src/node/transports/iscsi-chap.js';
import { LOGIN_RETRIES, rewriteRecords } from '../../src/node/transports/iscsi-record.js';
import { initiatorIqnFor, isValidIqn } from '../../src/node/transports/iscsi-names.js';
import { iscsiSessions } from '../../src/node/transports/iscsi-sysfs.js';
import { mapOf } from '../../src/node/transports/iscsi-multipath.js';
import { backingStore } from '../../src/backends/iscsi/store.js';
import { FileStore } from '../../src/backends/files/store.js';
import { LvmThickBackend } from '../../src/backends/lvm/thick.js';
import { LvmThinBackend } from '../../src/backends/lvm/thin.js';
import { formatIscsiScan, parseKeyValues } from '../../src/cli/scan-iscsi.js';
import { discoveryArgs, parseDiscovery, IscsiTransport, loginArgs, logoutArgs, nodeDeleteArgs, portalOf, ifaceInitiatorArgs } from '../../src/node/transports/iscsi.js';
import { ExecError, local, type Runner } from '../../src/exec/index.js';
import { PoolSchema, type IscsiPool } from '../../src/pools/schema.js';
import { fixture } from '../helpers/fixtures.js';

const POOL = PoolSchema.parse({
  id: 'san', type: 'iscsi', portals: ['192.168.77.1:3260'], iqnPrefix: 'iqn.2003-01.org.example.lab',
  backing: { type: 'lvmthin', vgname: 'labvg', thinpool: 'thin' }, local: true,
}) as IscsiPool;

test('configfs argv: coreutils and findutils only, values on stdin, the save under the host-wide lock', () => {
  const argv = (p: { program: string; args: string[] }) => [p.program, ...p.args];
  const t = 'iqn.2003-01.org.example.lab:san.vol1';
  assert.equal(tpgDir(t), `/sys/kernel/config/target/iscsi/${t}/tpgt_1`);
  assert.deepEqual(argv(mkdirCmd([`${hbaDir(0)}/san.vol1`, lunDir(t, 0), npDir(t, 3260)])),
    ['mkdir', '-p', '/sys/kernel/config/target/core/iblock_0/san.vol1', `${tpgDir(t)}/lun/lun_0`, `${tpgDir(t)}/np/0.0.0.0:3260`]);
  assert.deepEqual(argv(linkCmd('/a', '/b/c')), ['ln', '-sT', '/a', '/b/c']);
  assert.deepEqual(argv(writeCmd(`${tpgDir(t)}/enable`)), ['dd', `of=${tpgDir(t)}/enable`, 'conv=notrunc', 'status=none'], 'the value is never an argument, nor echoed');
  assert.deepEqual(argv(unlinkAllCmd(aclDir(t, 'iqn.y:n'))), ['find', `${tpgDir(t)}/acls/iqn.y:n`, '-type', 'l', '-delete']);
  assert.deepEqual(argv(saveCmd()), ['flock', '-w', '240', '/run/poolcsi-lio.lock', 'targetctl', 'save']);
});

test('configfs listings recorded in a lab node: objects found by name whatever HBA a restore gave them', () => {
  const core = parseCore(fixture('iscsi/configfs-core.txt'));
  assert.deepEqual([...core.hbas].sort(), ['iblock_0', 'iblock_1']);
  assert.equal(core.objects.get('bs2'), '/sys/kernel/config/target/core/iblock_0/bs2');
  assert.equal(core.objects.get('t1'), '/sys/kernel/config/target/core/iblock_1/t1');
  assert.equal(core.objects.has('lu_gps'), false, 'ALUA groups are not storage objects');
  assert.deepEqual([...core.occupied].sort(), ['iblock_0', 'iblock_1']);
  // A new object's HBA is its own, derived from its name, above rtslib's 0, 1, 2...: two
  // volumes exported at once by two writers never share one (targetctl clear would fail).
  const a = hbaFor(core, 'san.vol1');
  assert.equal(a, preferredHba('san.vol1'));
  assert.ok(a >= HBA_BASE && a < 2 ** 31, `${a} is a u32 the kernel and rtslib both read`);
  assert.notEqual(hbaFor(core, 'san.vol2'), a);
  assert.equal(preferredHba('san.vol1'), a, 'a retry asks for the same HBA');
  const taken = parseCore(`${hbaDir(a)}/other\n`);
  assert.equal(hbaFor(taken, 'san.vol1'), a + 1, 'an HBA holding another object is skipped');
  assert.equal(hbaFor(parseCore(`${hbaDir(a)}\n`), 'san.vol1'), a, 'an empty one (an attempt that died) is reused');
  // fileio HBAs are numbered apart from iblock ones (configfs names them by plugin).
  const both = parseCore(`${hbaDir(a, 'fileio')}/other\n${hbaDir(a, 'fileio')}\n`);
  assert.equal(both.objects.get('other'), `${hbaDir(a, 'fileio')}/other`);
  assert.equal(hbaFor(both, 'san.vol1'), a, 'an iblock object does not step aside for a fileio one');
  assert.equal(hbaFor(both, 'san.vol1', 'fileio'), a + 1);
  const t = 'iqn.2003-01.org.example.lab:t2';
  const tpg = parseTpg(t, fixture('iscsi/configfs-tpg.txt'));
  assert.deepEqual([...tpg.acls.keys()], ['iqn.2026-12.io.poolcsi:node.x']);
  assert.deepEqual(tpg.acls.get('iqn.2026-12.io.poolcsi:node.x'), [`${aclDir(t, 'iqn.2026-12.io.poolcsi:node.x')}/lun_0`], 'auth, attrib, param are not mapped LUNs');
  assert.deepEqual(tpg.portals, [npDir(t, 3260)]);
  assert.deepEqual(tpg.luns, [lunDir(t, 0)]);
  assert.deepEqual([...parseRead('/x/so/enable:1\n/x/tpgt_1/enable:0\n')], [['/x/so/enable', '1'], ['/x/tpgt_1/enable', '0']]);
});

test("configfs refusals recorded in a lab node: only 'not there' and 'already linked' count as a retry's success", () => {
  const lines = fixture('iscsi/configfs-refusals.txt').split('\n').filter((l) => l && !l.startsWith('#'));
  const [secondLun, secondMapped, noTarget, busyLun, findMissing, sharedHba] = lines;
  assert.equal(onlyExisting(secondLun!), true);
  assert.equal(onlyExisting(secondMapped!), false, 'EINVAL is not "already there": the mapped LUN is probed first');
  assert.equal(onlyMissing(noTarget!), true);
  assert.equal(onlyMissing(findMissing!), true);
  assert.equal(onlyMissing(busyLun!), false, 'a LUN still linked is an error, never a success');
  assert.equal(onlyMissing(`${noTarget}\n${busyLun}`), false, 'one real refusal among missing ones fails the step');
  assert.equal(onlyMissingOrSharedHba(`${noTarget}\n${sharedHba}`), true);
  assert.equal(onlyMissingOrSharedHba(busyLun!), false);
  assert.equal(onlyMissing(''), false);
});

test('LIO saves: concurrent changes share a save that started after them; none waits on a save that started before', async () => {
  let saves = 0;
  const gates: Array<() => void> = [];
  const saver = new Saver(async () => { saves++; await new Promise<void>((r) => gates.push(r)); });
  const a = saver.save(); // starts at once
  await new Promise((r) => setImmediate(r));
  assert.equal(saves, 1);
  const b = saver.save(); // made its change while save 1 ran: needs save 2
  const c = saver.save(); // joins save 2 (not started yet)
  assert.equal(b, c);
  gates.shift()!();
  await a;
  await new Promise((r) => setImmediate(r));
  assert.equal(saves, 2, 'the queued save started once the running one ended');
  const d = saver.save(); // save 2 is running: d needs a third
  assert.notEqual(d, b);
  gates.shift()!();
  await b;
  await new Promise((r) => setImmediate(r));
  gates.shift()!();
  await d;
  assert.equal(saves, 3);
});

test('unexport of a volume never exported: two reads, and a save only when the saved file still names it', async () => {
  // The lab's answers: find on a target that is not there, the core listing of a host with other objects.
  const findMissing = fixture('iscsi/configfs-refusals.txt').split('\n').filter((l) => l.startsWith('find:'))[0]!;
  const ref = { target: 'iqn.2003-01.org.example.lab:nope', backstore: 'san.nope', lun: 0, serial: 'x' };
  assert.deepEqual(savedMentionsCmd([ref.target, ref.backstore]),
    { program: 'grep', args: ['-c', '-F', '-e', ref.target, '-e', ref.backstore, SAVED_CONFIG] });
  for (const [grepExit, saved] of [[1, false], [0, true], [2, true]] as const) {
    const ran: string[] = [];
    const runner: Runner = {
      host: `unexport-${grepExit}`,
      run: async (program, args, opts) => {
        ran.push(program);
        if (program === 'find' && args[0]!.startsWith(tpgDir(ref.target))) throw new ExecError(program, args, 1, `${findMissing}\n`, '', 'exit');
        if (program === 'find') return { stdout: fixture('iscsi/configfs-core.txt'), stderr: '', exitCode: 0, durationMs: 1 };
        if (program === 'grep') {
          assert.ok(opts?.okCodes?.includes(grepExit));
          // grep -c prints the count (none: "0", exit 1); a missing file prints nothing (exit 2).
          return { stdout: grepExit === 2 ? '' : `${grepExit === 0 ? 3 : 0}\n`, stderr: '', exitCode: grepExit, durationMs: 1 };
        }
        return { stdout: '', stderr: '', exitCode: 0, durationMs: 1 };
      },
    };
    await new Lio(runner, [3260]).unexport(ref);
    assert.deepEqual(ran, ['find', 'find', 'grep', ...(saved ? ['flock'] : [])], `grep exit ${grepExit}`);
  }
});

test('names: target per volume under the pool prefix, initiator from the node id, context and publish agree', () => {
  const ref = lunRef(POOL, 'pvc-0a1b');
  assert.deepEqual(ref, { target: 'iqn.2003-01.org.example.lab:san.pvc-0a1b', backstore: 'san.pvc-0a1b', lun: 0, serial: '81b4a8aa-c10c-52d0-3450-882317a1533e' });
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

test('schema: exactly one of ssh and local; 1 to 8 different portals; lowercase IQN prefix; lvmthin or lvm backing', () => {
  const base = { id: 'san', type: 'iscsi', portals: ['10.0.0.1'], iqnPrefix: 'iqn.2003-01.org.example', backing: { type: 'lvmthin', vgname: 'vg', thinpool: 'tp' } };
  assert.equal(PoolSchema.safeParse(base).success, false, 'neither ssh nor local');
  assert.equal(PoolSchema.safeParse({ ...base, local: true }).success, true);
  assert.equal(PoolSchema.safeParse({ ...base, local: true, iqnPrefix: 'iqn.2003-01.Org.Example' }).success, false);
  assert.equal(PoolSchema.safeParse({ ...base, local: true, portals: ['a', 'b'] }).success, true, 'two portals: multipath');
  assert.equal(PoolSchema.safeParse({ ...base, local: true, portals: ['a', 'a:3260'] }).success, false, 'the same portal twice');
  assert.equal(PoolSchema.safeParse({ ...base, local: true, portals: ['[fd00::1]', '[fd00::1]:3260'] }).success, false, 'the same IPv6 portal twice');
  assert.equal(PoolSchema.safeParse({ ...base, local: true, portals: Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`) }).success, false, 'at most 8');
  const thick = PoolSchema.parse({ ...base, local: true, backing: { type: 'lvm', vgname: 'vg' } }) as IscsiPool;
  assert.deepEqual(thick.backing, { type: 'lvm', vgname: 'vg', snapshotSize: 25, saferemove: 'off' });
  assert.equal(PoolSchema.safeParse({ ...base, local: true, backing: { type: 'lvm', vgname: 'vg', thinpool: 'tp' } }).success, false, 'a thick backing has no thin pool');
  const file = PoolSchema.parse({ ...base, local: true, backing: { type: 'file', path: '/srv/luns' } }) as IscsiPool;
  assert.deepEqual(file.backing, { type: 'file', path: '/srv/luns', snapshots: 'reflink' });
  for (const path of ['srv', '/srv/a,b', '/srv/../etc', '/srv/a b', '/srv/']) {
    assert.equal(PoolSchema.safeParse({ ...base, local: true, backing: { type: 'file', path } }).success, false, `backing path ${path}`);
  }
});

test('the backing store: thin or thick LVs under the iscsi pool\'s id, records without a node (any node may log in); or image files', () => {
  const thin = backingStore(POOL, local).store;
  assert.ok(thin instanceof LvmThinBackend);
  assert.equal(thin.pool.id, 'san');
  const thick = backingStore(PoolSchema.parse({ ...POOL, backing: { type: 'lvm', vgname: 'labvg' } }) as IscsiPool, local).store;
  assert.ok(thick instanceof LvmThickBackend);
  assert.equal((thick.pool as { snapshotSize?: number }).snapshotSize, 25);
  assert.ok(backingStore(PoolSchema.parse({ ...POOL, backing: { type: 'file', path: '/srv' } }) as IscsiPool, local).store instanceof FileStore);
});

test('scan: SendTargets discovery (recorded in a lab node) grouped by target; CHAP files parsed without quoting a value; the table', () => {
  assert.deepEqual(discoveryArgs('10.0.0.1:3260'), ['-m', 'discovery', '-t', 'sendtargets', '-p', '10.0.0.1:3260', '-o', 'nonpersistent']);
  const found = parseDiscovery(fixture('iscsi/discovery.txt'));
  assert.ok(found.length >= 2, 'the recording has two targets');
  for (const t of found) {
    assert.ok(isValidIqn(t.target), t.target);
    assert.deepEqual(t.portals, [{ address: '127.0.0.1:3260', tpgt: 1 }]);
  }
  assert.deepEqual(parseKeyValues('# chap\nnode.session.auth.username = u1\n\nnode.session.auth.password=p=w\n'), { 'node.session.auth.username': 'u1', 'node.session.auth.password': 'p=w' });
  assert.throws(() => parseKeyValues('password sekret'), (e: Error) => !e.message.includes('sekret'));
  assert.throws(() => parseKeyValues('=sekret'), (e: Error) => !e.message.includes('sekret'));
  const out = formatIscsiScan('10.0.0.1:3260', [
    { target: 'iqn.x:a', portals: [], luns: [{ lun: 0, sizeBytes: 32 * 1024 * 1024, wwid: 'naa.6001405abc', vendor: 'LIO-ORG', model: 'san.a', state: 'running' }] },
    { target: 'iqn.x:b', portals: [], error: 'refused the login' },
  ]);
  assert.match(out, /^TARGET\s+LUN\s+SIZE\s+SCSI ID\s+DEVICE$/m);
  assert.match(out, /^iqn\.x:a\s+0\s+32\.0 MiB\s+naa\.6001405abc\s+LIO-ORG san\.a$/m);
  assert.match(out, /^iqn\.x:b\s+-\s+-\s+-\s+refused the login$/m);
  assert.equal(formatIscsiScan('h:1', []), 'h:1 offers no targets\n');
});

test('iscsiadm argv: our own interface on every node record, login and logout', () => {
  assert.deepEqual(ifaceInitiatorArgs('iqn.2026-12.io.poolcsi:node.n1'), ['-m', 'iface', '-I', 'poolcsi', '-o', 'update', '-n', 'iface.initiatorname', '-v', 'iqn.2026-12.io.poolcsi:node.n1']);
  assert.deepEqual(loginArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '--login']);
  assert.deepEqual(logoutArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '--logout']);
  assert.deepEqual(nodeDeleteArgs('iqn.x:t', '10.0.0.1:3260'), ['-m', 'node', '-T', 'iqn.x:t', '-p', '10.0.0.1:3260', '-I', 'poolcsi', '-o', 'delete']);
  assert.deepEqual(portalOf('10.0.0.1'), { host: '10.0.0.1', port: 3260, arg: '10.0.0.1:3260' });
  assert.deepEqual(portalOf('[fd00::1]:3261'), { host: '[fd00::1]', port: 3261, arg: '[fd00::1]:3261' });
});

/** A sysfs tree rebuilt from a lab recording. */
function recordedSysfs(name = 'iscsi/sysfs-session.txt'): string {
  const root = mkdtempSync(join(tmpdir(), 'iscsi-sysfs-'));
  for (const line of fixture(name).split('\n')) {
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

test('multipath: the recorded map over two sessions\' disks is joined as it is; a path missing from it, or a path to another LUN, is named', async () => {
  const root = recordedSysfs('iscsi/sysfs-multipath.txt');
  try {
    const name = '36001405fe4c6005d4a50385984773978';
    assert.deepEqual(await mapOf(root, ['sdb']), { dm: 'dm-0', name, slaves: ['sda', 'sdb'] });
    assert.equal(await mapOf(root, ['sdc']), undefined);
    const t = new IscsiTransport(local, { sysfs: root, deviceWaitMs: 500 });
    const descriptor = { target: 'iqn.2003-01.org.example.lab:san-mp.mpath-1', lun: '0', portals: '192.168.77.1:3260,192.168.77.101:3260' };
    const opts = { publishContext: { initiator: 'iqn.2026-12.io.poolcsi:node.worker-1' }, readonly: false };
    // Both sessions and the map exist: no program runs (`local` would fail: no iscsiadm or multipathd here).
    assert.deepEqual(await t.attach(descriptor, opts), { kind: 'device', path: '/dev/dm-0', stash: { disks: 'sda,sdb', map: name } });
    // iscsi-luns: every path must carry the SCSI id the LUN was claimed by (a LUN number can be remapped).
    assert.deepEqual(await t.attach({ ...descriptor, wwid: 'naa.6001405fe4c6005d4a50385984773978' }, opts), { kind: 'device', path: '/dev/dm-0', stash: { disks: 'sda,sdb', map: name } });
    await assert.rejects(t.attach({ ...descriptor, wwid: 'naa.6001405000000000000000000000001' }, opts),
      (e: Error & { kind?: string }) => /has SCSI id naa\.6001405fe4c6005d4a50385984773978, not naa\.6001405000000000000000000000001 as claimed/.test(e.message) && e.kind === 'precondition');
    const s = { descriptor, stash: { disks: 'sda,sdb', map: name }, path: '/dev/dm-0' };
    assert.deepEqual(await t.condition(s), { abnormal: false, message: `logged in to ${descriptor.target} at 2 portals; LUN 0 is dm-0 (${name}) over sda, sdb` });
    rmSync(join(root, 'block', 'dm-0', 'slaves', 'sdb'), { recursive: true });
    assert.deepEqual(await t.condition(s), { abnormal: true, message: `multipath map ${name} lacks path sdb` });
    writeFileSync(join(root, 'block', 'sdb', 'device', 'wwid'), 'naa.6001405000000000000000000000000\n');
    await assert.rejects(t.attach(descriptor, opts), /different SCSI ids .*not paths to one LUN/);
    writeFileSync(join(root, 'class', 'iscsi_session', 'session2', 'state'), 'FAILED\n');
    assert.match((await t.condition(s)).message, /session 2 .* at 192\.168\.77\.101:3260 is FAILED/);
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
  assert.doesNotThrow(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: '1.2.3.4,1.2.3.5:3261' }));
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: '1.2.3.4,1.2.3.4:3260' }), /iscsi.portals/);
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: '1.2.3.4,' }), /iscsi.portals/);
  assert.throws(() => t.parse({ target: 'iqn.2003-01.org.example:t', lun: '0', portals: Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`).join(',') }), /iscsi.portals/);
});

test('CHAP secrets: open-iscsi key names, pairs complete, mutual only on top of one-way, values checked without quoting them', () => {
  const one = { 'node.session.auth.username': 'u1', 'node.session.auth.password': 'p-secret-1' };
  assert.deepEqual(parseChap(one, 'CSI secrets'), { user: 'u1', password: 'p-secret-1' });
  const mutual = { ...one, 'node.session.auth.username_in': 't1', 'node.session.auth.password_in': 'p-secret-2' };
  assert.deepEqual(parseChap(mutual, 'CSI secrets'), { user: 'u1', password: 'p-secret-1', mutual: { user: 't1', password: 'p-secret-2' } });
  assert.match(parseChap({ 'node.session.auth.username': 'u1' }, 'CSI secrets') as string, /node\.session\.auth\.password is missing/);
  assert.match(parseChap({ 'node.session.auth.username_in': 't', 'node.session.auth.password_in': 'x' }, 'CSI secrets') as string, /needs one-way CHAP/);
  const bad = parseChap({ ...one, 'node.session.auth.password': 'has space secret' }, 'Secret ns/x') as string;
  assert.match(bad, /^Secret ns\/x: node\.session\.auth\.password must be/);
  assert.doesNotMatch(bad, /space secret/, 'the message never quotes the value');
  assert.equal(hasChap({ userID: 'admin' }), false);
  assert.equal(hasChap(undefined), false);
});

test("iscsiadm's own record (recorded in a lab node) rewritten: CHAP lines before the end mark, the first login bounded, file 0600, other records untouched", async () => {
  const recorded = fixture('iscsi/node-record.txt').split('\n').filter((l) => !l.startsWith('# iscsiadm')).join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-nodes-'));
  try {
    const target = 'iqn.2003-01.org.example.lab:vol1';
    mkdirSync(join(dir, target));
    const file = join(dir, target, '127.0.0.1,3260');
    writeFileSync(file, recorded, { mode: 0o600 });
    const other = join(dir, target, '127.0.0.2,3260');
    writeFileSync(other, recorded.replace('127.0.0.1', '127.0.0.2'));
    const chap = { user: 'u1', password: 'p-secret-1', mutual: { user: 't1', password: 'p-secret-2' } };
    assert.equal(await rewriteRecords(dir, target, '127.0.0.1', 3260, 'poolcsi', chap), 1);
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.at(-1), '# END RECORD');
    assert.deepEqual(lines.filter((l) => l.startsWith('node.session.auth.')), [
      'node.session.auth.chap_algs = MD5', 'node.session.auth.authmethod = CHAP', 'node.session.auth.username = u1',
      'node.session.auth.password = p-secret-1', 'node.session.auth.username_in = t1', 'node.session.auth.password_in = p-secret-2',
    ]);
    assert.equal(lines.length, recorded.trimEnd().split('\n').length + 4, 'every other line kept');
    assert.ok(lines.includes(`node.session.initial_login_retry_max = ${LOGIN_RETRIES}`), 'the first login is bounded');
    assert.ok(recorded.includes('node.session.initial_login_retry_max = 8'), 'the recorded default it replaces');
    // Manual scan: a session gets only the LUNs the node adds (its disks count its volumes).
    assert.ok(lines.includes('node.session.scan = manual') && !lines.includes('node.session.scan = auto'), 'LUNs are not scanned at login');
    assert.ok(recorded.includes('node.session.scan = auto'), 'the recorded default it replaces');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(other, 'utf8').includes('CHAP'), false, 'another portal is not ours');
    assert.equal(await rewriteRecords(dir, target, '127.0.0.1', 3260, 'default', chap), 0, 'another interface is not ours');
    assert.equal(await rewriteRecords(dir, target, '127.0.0.1', 3260, 'poolcsi', undefined), 1);
    assert.match(readFileSync(file, 'utf8'), /^node\.session\.auth\.authmethod = None$/m);
    assert.doesNotMatch(readFileSync(file, 'utf8'), /p-secret/, 'switching CHAP off removes the secrets');
    assert.deepEqual(readdirSync(join(dir, target)).sort(), ['127.0.0.1,3260', '127.0.0.2,3260'], 'nothing left aside');
    assert.equal(await rewriteRecords(dir, 'iqn.2003-01.org.example.lab:none', '127.0.0.1', 3260, 'poolcsi', chap), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LIO host gate: changes run side by side, a save waits for them and runs alone, later changes wait behind it', async () => {
  const gate = new HostGate();
  const log: string[] = [];
  const open = () => { let go!: () => void; const p = new Promise<void>((r) => { go = r; }); return { p, go }; };
  const a = open();
  const b = open();
  const s = open();
  const tick = () => new Promise((r) => setImmediate(r));
  const ca = gate.change(async () => { log.push('a+'); await a.p; log.push('a-'); });
  const cb = gate.change(async () => { log.push('b+'); await b.p; log.push('b-'); });
  await tick();
  assert.deepEqual(log, ['a+', 'b+'], 'two changes at once');
  const sv = gate.save(async () => { log.push('s+'); await s.p; log.push('s-'); });
  const cc = gate.change(async () => { log.push('c'); });
  await tick();
  assert.deepEqual(log, ['a+', 'b+'], 'the save waits for both; the later change waits behind the save');
  a.go(); await ca; await tick();
  assert.deepEqual(log, ['a+', 'b+', 'a-']);
  b.go(); await cb; await tick();
  assert.deepEqual(log, ['a+', 'b+', 'a-', 'b-', 's+'], 'the save alone');
  s.go(); await sv; await cc;
  assert.deepEqual(log, ['a+', 'b+', 'a-', 'b-', 's+', 's-', 'c']);
  await assert.rejects(gate.change(async () => { throw new Error('boom'); }), /boom/);
  await gate.save(async () => { log.push('after a failed change'); });
  assert.equal(log.at(-1), 'after a failed change', 'a failed change leaves the gate open');
});
