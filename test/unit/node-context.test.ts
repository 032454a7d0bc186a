// volume_context on the node is external input (a PV spec): every value is checked, and the
// controller's own contexts (nodeContextOf) pass the same checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeContextOf } from '../../src/backends/index.js';
import { validatePools } from '../../src/pools/validate.js';
import { buildVolumeContext, parseVolumeContext } from '../../src/node/context.js';
import { NodeError } from '../../src/node/errors.js';
import { transports } from '../../src/node/transports/index.js';
import { isValidHostPort } from '../../src/node/transports/grammar.js';
import type { Runner } from '../../src/exec/index.js';

const refuse: Runner = { host: 'none', run: async () => { throw new Error('no program may run while parsing'); } };
const kinds = transports(refuse);

const base = { pool: 'p1', type: 'lvm', mode: 'filesystem', transport: 'lvm', 'lvm.vg': 'vg0', 'lvm.lv': 'pvc-1' };
const parse = (c: Record<string, string>) => {
  const vc = parseVolumeContext(c, 'p1:pvc-1');
  return { vc, descriptor: kinds.get(vc.transport)!.parse(vc.descriptor) };
};
const invalid = (c: Record<string, string>, what: RegExp) =>
  assert.throws(() => parse(c), (e: unknown) => e instanceof NodeError && e.kind === 'invalid' && what.test(e.message), JSON.stringify(c));

test('a context without "transport" (a PV from before) is FAILED_PRECONDITION with a clear message', () => {
  assert.throws(() => parseVolumeContext({ pool: 'p1', type: 'lvm', mode: 'filesystem' }, 'p1:v'),
    (e: unknown) => e instanceof NodeError && e.kind === 'precondition' && /no "transport"/.test(e.message));
  assert.throws(() => parseVolumeContext(undefined, 'p1:v'), { kind: 'precondition' });
});

test('the common keys are checked', () => {
  invalid({ ...base, pool: '../x' }, /pool/);
  invalid({ ...base, mode: 'raw' }, /mode/);
  invalid({ ...base, type: 'LVM;' }, /type/);
  invalid({ ...base, transport: 'Bind' }, /transport/);
  invalid({ ...base, fsType: 'ext4 -E root_owner' }, /fsType/);
  invalid({ ...base, mkfsOptions: '-E $(reboot)' }, /mkfsOptions/);
  for (const o of ['remount', 'bind', 'rbind', 'move', 'X-mount.mkdir', 'x-systemd.automount', 'loop=/dev/loop0', 'a b', 'ro;rm', 'helper=evil', 'offset=4096']) {
    invalid({ ...base, mountOptions: `noatime,${o}` }, /mountOptions/);
  }
  const { vc } = parse({ ...base, fsType: 'xfs', mkfsOptions: '-m crc=1', mountOptions: 'noatime,discard' });
  assert.deepEqual(vc.mountOptions, ['noatime', 'discard']);
});

test('keys of other prefixes are ignored (kubelet adds pod info), unknown keys of the transport refused', () => {
  const { descriptor } = parse({ ...base, 'csi.storage.k8s.io/pod.name': 'x', 'bind.path': '/etc' });
  assert.deepEqual(descriptor, { vg: 'vg0', lv: 'pvc-1' });
  invalid({ ...base, 'lvm.device': '/dev/sda' }, /unknown key/);
});

test('bind.path: absolute, normalized, not /', () => {
  const b = { pool: 'p1', type: 'dir', mode: 'filesystem', transport: 'bind' };
  for (const p of ['', 'relative/dir', '/', '/a/../etc', '/a/./b', '/a//b', '/a/b/', '/a/\nb', '/a\0b', `/${'a'.repeat(5000)}`]) {
    invalid({ ...b, 'bind.path': p }, /bind\.path/);
  }
  assert.equal(parse({ ...b, 'bind.path': '/var/lib/poolcsi/volumes/pvc-1' }).descriptor.path, '/var/lib/poolcsi/volumes/pvc-1');
});

test('lvm names by the LVM grammar', () => {
  for (const vg of ['-vg', 'vg/x', '..', 'v g', 'vg;x', 'a'.repeat(128)]) invalid({ ...base, 'lvm.vg': vg }, /lvm\.vg/);
  for (const lv of ['-lv', 'snapshot1', 'pvmove0', 'x_tmeta', 'a/b', '.', '..', 'l v', 'a'.repeat(101)]) invalid({ ...base, 'lvm.lv': lv }, /lvm\.lv/);
  invalid({ ...base, 'lvm.thinpool': '--all' }, /lvm\.thinpool/);
  assert.deepEqual(parse({ ...base, 'lvm.thinpool': 'thin' }).descriptor, { vg: 'vg0', lv: 'pvc-1', thinpool: 'thin' });
});

test('rbd names, monitors and map options by grammar', () => {
  const r = { pool: 'c', type: 'rbd', mode: 'block', transport: 'rbd', 'rbd.monhost': '10.0.0.1,mon.example.com:6789,[fd00::1]:3300', 'rbd.pool': 'kube', 'rbd.image': 'pvc-1' };
  assert.deepEqual(parse(r).descriptor, { monhost: '10.0.0.1,mon.example.com:6789,[fd00::1]:3300', pool: 'kube', image: 'pvc-1', udev: 'auto' });
  for (const m of ['', '10.0.0.1;id', 'host:0', 'host:99999', 'a_b.example', '-m', 'fd00::1', '[zz::1]:1', '10.0.0.1,,x', `${'a'.repeat(64)}.com`]) {
    invalid({ ...r, 'rbd.monhost': m }, /rbd\.monhost/);
  }
  for (const p of ['a/b', '-x', 'a@b', '..', 'a b']) invalid({ ...r, 'rbd.pool': p }, /rbd\.pool/);
  for (const i of ['pvc/../x', '-x', 'img@snap', 'a b', '']) invalid({ ...r, 'rbd.image': i }, /rbd\.image/);
  for (const o of ['ro', 'rw', 'read_only', 'a=b;c', 'queue_depth=1,,x', 'A']) invalid({ ...r, 'rbd.mapOptions': o }, /rbd\.mapOptions/);
  invalid({ ...r, 'rbd.udev': 'yes' }, /rbd\.udev/);
  invalid({ ...r, 'rbd.keyring': '/etc/ceph/keyring' }, /unknown key/);
});

test('host grammar', () => {
  for (const ok of ['a', 'a.b', '1.2.3.4', '1.2.3.4:6789', '[::1]:1', '[::1]', 'x-y.z']) assert.ok(isValidHostPort(ok), ok);
  for (const bad of ['1.2.3', '999.1.1.1', '-a', 'a-', 'a..b', '::1', '[::1', 'a:b', 'a:', '']) assert.ok(!isValidHostPort(bad), bad);
});

test("every pool type's controller context passes the node's checks (round trip)", () => {
  const { pools } = validatePools({ pools: [
    { id: 'd', type: 'dir', path: '/var/lib/poolcsi/d' },
    { id: 'l', type: 'lvm', vgname: 'vg0' },
    { id: 't', type: 'lvmthin', vgname: 'vg0', thinpool: 'thin' },
    { id: 'r', type: 'rbd', monhost: ['10.0.0.1', 'mon2:6789'], pool: 'kube', mapOptions: ['ms_mode=prefer-crc'], udev: 'off' },
    { id: 'n', type: 'nfs', server: 'nfs1.example', export: '/srv/k8s', options: ['vers=4.2', 'hard'], timeoutSeconds: 7 },
  ] });
  const want: Record<string, Record<string, string>> = {
    d: { path: '/var/lib/poolcsi/d/volumes/pvc-1/data' },
    l: { vg: 'vg0', lv: 'pvc-1' },
    t: { vg: 'vg0', lv: 'pvc-1', thinpool: 'thin' },
    r: { monhost: '10.0.0.1,mon2:6789', pool: 'kube', image: 'pvc-1', mapOptions: 'ms_mode=prefer-crc', udev: 'off' },
    n: { server: 'nfs1.example', export: '/srv/k8s/pvc-1', options: 'vers=4.2,hard', sizeEnforced: 'false', timeoutSeconds: '7' },
  };
  for (const pool of pools) {
    const { transport, descriptor } = nodeContextOf(pool, { name: 'pvc-1' });
    const flat = buildVolumeContext({ pool: pool.id, type: pool.type, mode: 'filesystem', fsType: 'ext4', mkfsOptions: '', mountOptions: 'noatime', transport, descriptor });
    assert.equal(flat.transport, transport);
    assert.ok(!('mkfsOptions' in flat), 'empty values are left out');
    const back = parse(flat);
    assert.deepEqual(back.descriptor, want[pool.id], pool.id);
    assert.equal(back.vc.fsType, 'ext4');
  }
});

test('nfs descriptors: server, export and options by the pool grammar; unknown keys refused', () => {
  const nfs = { pool: 'n', type: 'nfs', mode: 'filesystem', transport: 'nfs', 'nfs.server': '10.0.0.1', 'nfs.export': '/srv/k8s/pvc-1' };
  assert.deepEqual(parse({ ...nfs, 'nfs.options': 'vers=4.2,hard' }).descriptor, { server: '10.0.0.1', export: '/srv/k8s/pvc-1', options: 'vers=4.2,hard' });
  invalid({ ...nfs, 'nfs.server': 'a;b' }, /nfs server/);
  invalid({ ...nfs, 'nfs.server': '' }, /nfs.server/);
  invalid({ ...nfs, 'nfs.export': '/srv/../etc' }, /not normalized/);
  invalid({ ...nfs, 'nfs.export': 'srv/k8s' }, /absolute/);
  invalid({ ...nfs, 'nfs.options': 'vers=4.2,exec=/bin/sh' }, /nfs mount option/);
  invalid({ ...nfs, 'nfs.timeoutSeconds': '0' }, /timeoutSeconds/);
  invalid({ ...nfs, 'nfs.path': '/x' }, /unknown key/);
  invalid({ ...nfs, 'nfs.sizeEnforced': 'maybe' }, /sizeEnforced/);
});
