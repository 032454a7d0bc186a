// The node transports' command lines and parsing, with outputs recorded from the real tools
// (test/fixtures/lvm, test/fixtures/rbd). The lab runs them for real (test/lab/node-context).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecError } from '../../src/exec/errors.js';
import type { Runner, RunOptions, RunResult } from '../../src/exec/index.js';
import { NodeError } from '../../src/node/errors.js';
import { BindTransport } from '../../src/node/transports/bind.js';
import { LvmTransport, parseNodeLvs } from '../../src/node/transports/lvm.js';
import { RbdTransport } from '../../src/node/transports/rbd.js';
import { recordedRbdSysfs } from './rbd-helpers.js';

const lvmFixture = (n: string) => readFileSync(new URL(`../../../test/fixtures/lvm/${n}`, import.meta.url), 'utf8');
const rbdFixture = (n: string) => readFileSync(new URL(`../../../test/fixtures/rbd/${n}`, import.meta.url), 'utf8');
const KEY = 'AQApNgFrG+oRKBAAy/Gj/uYgdmmXKhnCvYmOkw==';

/** Records every run and answers from a script: (program, args) → stdout, or an error to throw. */
class Recorder implements Runner {
  readonly host = 'recorder';
  readonly runs: Array<{ program: string; args: string[]; keyfile?: { content: string; mode: number } }> = [];
  constructor(private readonly answer: (program: string, args: string[]) => string | Error) {}
  async run(program: string, args: readonly string[], _o?: RunOptions): Promise<RunResult> {
    const a = [...args];
    if (a.some((x) => x.includes(KEY))) throw new Error('the key is in argv');
    const k = a.indexOf('--keyfile');
    const keyfile = k >= 0 ? { content: readFileSync(a[k + 1]!, 'utf8'), mode: statSync(a[k + 1]!).mode & 0o777 } : undefined;
    this.runs.push({ program, args: a, ...(keyfile ? { keyfile } : {}) });
    const out = this.answer(program, a);
    if (out instanceof Error) throw out;
    return { stdout: out, stderr: '', exitCode: 0, durationMs: 1 };
  }
}

test('lvm: the node reads only its fields, from the recorded report', () => {
  const rows = parseNodeLvs(lvmFixture('lvs-healthy.json'));
  const thin = rows.find((r) => r.name === 'thin')!;
  assert.deepEqual({ ...thin }, { name: 'thin', active: true, major: 254, minor: 2, dmPath: '/dev/mapper/fixvg-thin', health: '', dataPercent: 0, metadataPercent: 10.94 });
  assert.deepEqual(rows.find((r) => r.name === 'snap.snapshot-1')!.major, -1);
});

test('lvm: an inactive LV is activated (-K), then its device is looked up by kernel numbers', async () => {
  let listed = 0;
  const r = new Recorder((program) => {
    if (program === 'lvs') return listed++ === 0 ? lvmFixture('lvs-healthy.json') : lvmFixture('lvs-healthy.json').replace('"lv_active":"", "segtype"', '"lv_active":"active", "segtype"');
    return '';
  });
  const t = new LvmTransport(r);
  // No such device on the test host: the lookup fails, after the right commands.
  await assert.rejects(t.attach({ vg: 'fixvg', lv: 'snap.snapshot-1' }), (e: unknown) => e instanceof NodeError);
  assert.deepEqual(r.runs.map((x) => [x.program, ...x.args]), [
    ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,lv_active,lv_attr,lv_kernel_major,lv_kernel_minor,lv_dm_path,lv_health_status,data_percent,metadata_percent', 'fixvg/snap.snapshot-1'],
    ['lvchange', '-q', '-a', 'y', '-K', 'fixvg/snap.snapshot-1'],
    ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,lv_active,lv_attr,lv_kernel_major,lv_kernel_minor,lv_dm_path,lv_health_status,data_percent,metadata_percent', 'fixvg/snap.snapshot-1'],
  ]);
});

test('lvm: a missing LV is NOT_FOUND (lvs exits 5, recorded stderr)', async () => {
  const r = new Recorder(() => new ExecError('lvs', [], 5, lvmFixture('lvs-missing.stderr'), '', 'exit'));
  await assert.rejects(new LvmTransport(r).attach({ vg: 'fixvg', lv: 'nope' }), { kind: 'not-found' });
});

test('lvm: condition reads the LV and its thin pool from one lvs of the VG, shared by the volumes asked meanwhile', async () => {
  const r = new Recorder(() => lvmFixture('lvs-healthy.json'));
  const t = new LvmTransport(r);
  const c = await t.condition({ descriptor: { vg: 'fixvg', lv: 'pvc-thin1', thinpool: 'thin' }, stash: {}, path: '/dev/dm-4' });
  assert.deepEqual(c, { abnormal: false, message: 'LV fixvg/pvc-thin1 active and healthy; thin pool thin 0.00% used' });
  assert.equal(r.runs[0]!.args.at(-1), 'fixvg');
  // The kubelet's next volumes (all at once, or one after the other): no other lvs.
  const [thick, raid, gone] = await Promise.all([
    t.condition({ descriptor: { vg: 'fixvg', lv: 'pvc-thick1' }, stash: {}, path: '' }),
    t.condition({ descriptor: { vg: 'fixvg', lv: 'pvc-raid' }, stash: {}, path: '' }),
    t.condition({ descriptor: { vg: 'fixvg', lv: 'pvc-nope' }, stash: {}, path: '' }),
  ]);
  assert.equal(thick.abnormal, false, thick.message);
  assert.equal(raid.abnormal, false, raid.message);
  assert.deepEqual(gone, { abnormal: true, message: 'LV fixvg/pvc-nope is missing' });
  assert.equal(r.runs.length, 1);
  // A stage on this node drops the report: the next condition reads the VG again.
  await t.attach({ vg: 'fixvg', lv: 'pvc-thick1' }).catch(() => undefined);
  const before = r.runs.length;
  await t.condition({ descriptor: { vg: 'fixvg', lv: 'pvc-thick1' }, stash: {}, path: '' });
  assert.equal(r.runs.length, before + 1);
  const full = new Recorder(() => lvmFixture('lvs-thin-full.json'));
  const f = await new LvmTransport(full).condition({ descriptor: { vg: 'fixvg', lv: 'pvc-thin1', thinpool: 'thin' }, stash: {}, path: '' });
  assert.equal(f.abnormal, true);
});

test('rbd: no node-stage secrets → INVALID_ARGUMENT naming the StorageClass keys, and no cluster call', async () => {
  const r = new Recorder(() => '[]');
  const t = new RbdTransport(r, { sysfs: '/nonexistent' });
  const d = { monhost: '10.0.0.1', pool: 'kube', image: 'pvc-1', udev: 'off' };
  await assert.rejects(t.attach(d, { publishContext: {}, readonly: false }), (e: unknown) => e instanceof NodeError && e.kind === 'invalid' && /node-stage-secret-name/.test(e.message));
  assert.deepEqual(r.runs, [], 'the mappings come from sysfs: no program ran');
});

test('rbd: map with the node-stage key in a 0600 file; refused, the features fitted to the kernel and mapped again; --read-only for readers', async () => {
  const sys = await mkdtemp(join(tmpdir(), 'poolcsi-sys-'));
  try {
    await mkdir(join(sys, 'bus/rbd'), { recursive: true });
    await writeFile(join(sys, 'bus/rbd/supported_features'), `0x${(0x1bf & ~0x8 & ~0x10).toString(16)}\n`); // no object-map, fast-diff
    // The kernel refuses the first map (the image has features it lacks), maps after the fit.
    let maps = 0;
    const r = new Recorder((_p, a) => (a.includes('info') ? rbdFixture('info-plain.json')
      : a.includes('map') ? (maps++ === 0 ? new ExecError('rbd', a, Number(rbdFixture('err-map-features.code')), rbdFixture('err-map-features.stderr'), '', 'exit') : '/dev/rbd7\n') : ''));
    const t = new RbdTransport(r, { sysfs: sys, deviceWaitMs: 10 });
    const d = { monhost: '10.0.0.1,10.0.0.2:6789', pool: 'kube', image: 'pvc-1', mapOptions: 'ms_mode=prefer-crc', udev: 'off' };
    // No /dev/rbd7 on the test host: the wait for the device node fails, after the map.
    await assert.rejects(t.attach(d, { secrets: { userID: 'client.csi-node', userKey: KEY }, publishContext: {}, readonly: true }), /block device \/dev\/rbd7/);
    const conn = (k: string) => ['--conf', '/dev/null', '-m', '10.0.0.1,10.0.0.2:6789', '--id', 'csi-node', '--keyfile', k, '--client-mount-timeout', '20', '--rados-mon-op-timeout', '60'];
    const runs = r.runs.map((x) => x.args);
    const k = runs[0]![runs[0]!.indexOf('--keyfile') + 1]!;
    assert.deepEqual(runs, [
      [...conn(k), 'map', 'kube/pvc-1', '--read-only', '-o', 'noudev,ms_mode=prefer-crc'],
      [...conn(k), 'info', 'kube/pvc-1', '--format', 'json'],
      [...conn(k), 'feature', 'disable', 'kube/pvc-1', 'fast-diff', 'object-map'],
      [...conn(k), 'map', 'kube/pvc-1', '--read-only', '-o', 'noudev,ms_mode=prefer-crc'],
    ]);
    for (const x of r.runs) assert.deepEqual(x.keyfile, { content: KEY, mode: 0o600 });

    // A kernel that maps the image as it is: the map alone, no `rbd info`.
    const once = new Recorder((_p, a) => (a.includes('map') ? '/dev/rbd7\n' : ''));
    await assert.rejects(new RbdTransport(once, { sysfs: sys, deviceWaitMs: 10 }).attach(d, { secrets: { userID: 'csi-node', userKey: KEY }, publishContext: {}, readonly: false }), /block device \/dev\/rbd7/);
    assert.deepEqual(once.runs.map((x) => x.args.slice(conn(k).length)[0]), ['map']);

    // A map refused for another reason, with nothing to fit: its own error, mapped once.
    const denied = new Recorder((_p, a) => (a.includes('info') ? rbdFixture('info-plain.json') : new ExecError('rbd', a, 13, rbdFixture('err-denied.stderr'), '', 'exit')));
    await writeFile(join(sys, 'bus/rbd/supported_features'), '0x1bf\n');
    await assert.rejects(new RbdTransport(denied, { sysfs: sys, deviceWaitMs: 10 }).attach(d, { secrets: { userID: 'csi-node', userKey: KEY }, publishContext: {}, readonly: false }), { kind: 'denied' });
    assert.deepEqual(denied.runs.map((x) => x.args.slice(conn(k).length)[0]), ['map', 'info']);
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('rbd: detach unmaps every mapping of the image, found in sysfs (no credentials), EBUSY is FAILED_PRECONDITION', async () => {
  const sys = await recordedRbdSysfs(await mkdtemp(join(tmpdir(), 'poolcsi-sys-')));
  try {
    const r = new Recorder(() => '');
    await new RbdTransport(r, { sysfs: sys }).detach({ descriptor: { monhost: 'm', pool: 'rbd', image: 'b', udev: 'off' }, stash: { device: '/dev/rbd0' }, path: '/dev/rbd0' });
    assert.deepEqual(r.runs.map((x) => x.args), [
      ['--conf', '/dev/null', 'unmap', '-o', 'noudev', '/dev/rbd0'],
      ['--conf', '/dev/null', 'unmap', '-o', 'noudev', '/dev/rbd1'],
    ]);
    const busy = new Recorder((_p, a) => new ExecError('rbd', a, 16, 'rbd: sysfs write failed\nrbd: unmap failed: (16) Device or resource busy\n', '', 'exit'));
    await assert.rejects(new RbdTransport(busy, { sysfs: sys }).detach({ descriptor: { pool: 'rbd', image: 'b', udev: 'on' }, stash: {}, path: '' }), { kind: 'precondition', message: /still in use/ });
    const none = new Recorder(() => '');
    await new RbdTransport(none, { sysfs: sys }).detach({ descriptor: { pool: 'rbd', image: 'gone', udev: 'on' }, stash: {}, path: '' });
    assert.equal(none.runs.length, 0, 'nothing mapped: nothing to unmap');
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('rbd: condition is "still mapped", with no program run (the kubelet asks once a minute per volume)', async () => {
  const sys = await recordedRbdSysfs(await mkdtemp(join(tmpdir(), 'poolcsi-sys-')));
  try {
    const r = new Recorder(() => new Error('no program should run'));
    assert.deepEqual(await new RbdTransport(r, { sysfs: sys }).condition({ descriptor: { pool: 'rbd', image: 'b' }, stash: {}, path: '' }), { abnormal: false, message: 'mapped at /dev/rbd0' });
    assert.equal((await new RbdTransport(r, { sysfs: sys }).condition({ descriptor: { pool: 'rbd', image: 'c' }, stash: {}, path: '' })).abnormal, true, 'only its snapshot is mapped');
    assert.equal(r.runs.length, 0);
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('bind: the data directory must exist with no symbolic link anywhere in its path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-bind-'));
  try {
    await mkdir(join(dir, 'real/data'), { recursive: true });
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const t = new BindTransport();
    assert.deepEqual(await t.attach({ path: join(dir, 'real/data') }), { kind: 'directory', path: join(dir, 'real/data'), stash: {} });
    await assert.rejects(t.attach({ path: join(dir, 'link/data') }), { kind: 'invalid', message: /symbolic link/ });
    await assert.rejects(t.attach({ path: join(dir, 'missing') }), { kind: 'not-found' });
    await writeFile(join(dir, 'file'), '');
    await assert.rejects(t.attach({ path: join(dir, 'file') }), { kind: 'precondition' });
    assert.equal((await t.condition({ descriptor: {}, stash: {}, path: join(dir, 'missing') })).abnormal, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
