// The lvm/lvmthin backends' decisions against recorded LVM output, with a scripted runner:
// which commands run (and which must not), idempotency, crash resume, error kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecError, type Runner, type RunOptions, type RunResult } from '../../src/exec/index.js';
import { StorageError } from '../../src/backends/errors.js';
import { LvmThickBackend } from '../../src/backends/lvm/thick.js';
import { LvmThinBackend } from '../../src/backends/lvm/thin.js';
import { parsePools } from '../../src/pools/validate.js';
import type { LvmPool, LvmThinPool } from '../../src/pools/schema.js';
import type { CreateSpec } from '../../src/backends/types.js';
import { fixture } from '../helpers/fixtures.js';

type Reply = string | ExecError;

/** Answers each command with the first rule that matches; records every call. */
class ScriptedRunner implements Runner {
  readonly host = 'test';
  readonly calls: string[][] = [];
  constructor(private readonly rules: Array<[(argv: string[]) => boolean, Reply | ((argv: string[]) => Reply)]>) {}
  async run(program: string, args: readonly string[], _o?: RunOptions): Promise<RunResult> {
    const argv = [program, ...args];
    this.calls.push(argv);
    const rule = this.rules.find(([m]) => m(argv));
    if (!rule) throw new Error(`unexpected command: ${argv.join(' ')}`);
    const r = typeof rule[1] === 'function' ? rule[1](argv) : rule[1];
    if (r instanceof ExecError) throw r;
    return { stdout: r, stderr: '', exitCode: 0, durationMs: 1 };
  }
  ran(program: string): string[][] { return this.calls.filter((c) => c[0] === program); }
}

const isLvsAll = (a: string[]) => a[0] === 'lvs' && a.at(-1) === 'fixvg';
const isLvsOf = (name: string) => (a: string[]) => a[0] === 'lvs' && a.at(-1) === `fixvg/${name}`;
const is = (program: string) => (a: string[]) => a[0] === program;
const fail = (program: string, stderrFixture: string) => new ExecError(program, [], 5, fixture(`lvm/${stderrFixture}.stderr`), '', 'exit');
const ok = '';

function pools(extra = '') {
  const { pools: [tk, tp] } = parsePools(`pools:
  - {id: tk, type: lvm, vgname: fixvg}
  - {id: tp, type: lvmthin, vgname: fixvg, thinpool: thin${extra}}
`);
  return { tk: tk as LvmPool, tp: tp as LvmThinPool };
}

const MiB = 1024 ** 2;
const spec = (name: string, sizeBytes: number, extra: Partial<CreateSpec> = {}): CreateSpec => ({
  name, requestName: name, sizeBytes, limitBytes: 0, mode: 'filesystem', params: {}, ...extra,
});

test('thin: list volumes and snapshots from one lvs; half-made volumes are not listed', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')]]);
  const b = new LvmThinBackend(pools().tp, r, 'node1');
  const vols = await b.listVolumes();
  assert.deepEqual(vols.map((v) => v.name), ['pvc-thin1']);
  assert.deepEqual(vols[0]!.pvc, { namespace: 'default', name: 'data-claim' });
  assert.equal(vols[0]!.node, 'node1');
  const snaps = await b.listSnapshots();
  assert.deepEqual(snaps.map((s) => `${s.volume}@${s.name}:${s.sizeBytes}:${s.ready}`), ['pvc-thin1@snapshot-1:104857600:true']);
  assert.equal((await b.getVolume('pvc-thin1'))?.sizeBytes, 104857600);
  assert.equal(await b.getVolume('pvc-restored'), undefined);
  assert.equal(await b.getVolume('foreign'), undefined);
  assert.equal(r.ran('lvs').length, 1, 'one lvs answers the reads of one call sequence');
});

test('thin: overprovision refuses a volume before any lvcreate; within budget it is one lvcreate', async () => {
  // Pool 256 MiB; thin volumes 2 x 100 MiB (the snapshot does not count).
  const r1 = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('vgs'), fixture('lvm/vgs.json')], [isLvsOf('pvc-new'), fixture('lvm/lvs-partial.json')]]);
  await assert.rejects(new LvmThinBackend(pools().tp, r1, 'n').createVolume(spec('pvc-new', 100 * MiB)),
    (e) => e instanceof StorageError && e.kind === 'exhausted' && /58720256 left/.test(e.message));
  assert.equal(r1.ran('lvcreate').length, 0);

  const r2 = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('vgs'), fixture('lvm/vgs.json')], [is('lvcreate'), ok]]);
  const rec = await new LvmThinBackend(pools(', overprovision: 2').tp, r2, 'n').createVolume(spec('pvc-new', 100 * MiB - 5));
  assert.equal(rec.sizeBytes, 100 * MiB, 'rounded up to whole extents');
  const [create] = r2.ran('lvcreate');
  assert.deepEqual(create!.slice(0, 9), ['lvcreate', '-q', '--yes', '-T', 'fixvg/thin', '-V', `${100 * MiB}b`, '-n', 'pvc-new']);
  assert.ok(create!.includes('poolcsi.io/pool=tp'));
});

test('thin: a pool above dataPercentLimit takes no volume', async () => {
  const full = fixture('lvm/lvs-healthy.json').replace('"data_percent":"0.00", "metadata_percent":"10.94"', '"data_percent":"91.50", "metadata_percent":"10.94"');
  const r = new ScriptedRunner([[isLvsAll, full], [is('vgs'), fixture('lvm/vgs.json')], [isLvsOf('v'), fixture('lvm/lvs-partial.json')]]);
  await assert.rejects(new LvmThinBackend(pools(', overprovision: 5, dataPercentLimit: 90').tp, r, 'n').createVolume(spec('v', MiB)),
    (e) => e instanceof StorageError && e.kind === 'exhausted' && /91\.50%.*dataPercentLimit of 90%/.test(e.message));
  const cap = await new LvmThinBackend(pools(', overprovision: 5, dataPercentLimit: 90').tp, r, 'n').capacity();
  assert.equal(cap.availableBytes, 0);
});

test('thin: a restore interrupted after its snapshot is finished by the retry (grow, then mark complete)', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('lvextend'), ok], [is('lvchange'), ok]]);
  const b = new LvmThinBackend(pools(', overprovision: 4').tp, r, 'n');
  const rec = await b.createVolume(spec('pvc-restored', 200 * MiB, { mode: 'block', source: { kind: 'snapshot', volume: 'pvc-thin1', snapshot: 'snapshot-1' } }));
  assert.equal(rec.sizeBytes, 200 * MiB);
  assert.deepEqual(r.ran('lvextend'), [['lvextend', '-q', '-L', `${200 * MiB}b`, 'fixvg/pvc-restored']]);
  assert.deepEqual(r.ran('lvchange'), [['lvchange', '-q', '--deltag', 'poolcsi.io/incomplete', 'fixvg/pvc-restored']]);
  assert.equal(r.ran('lvcreate').length, 0, 'the LV is not made twice');
});

test('thin: a restore to a bigger size is a thin snapshot marked incomplete until grown', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('lvcreate'), ok], [is('lvextend'), ok], [is('lvchange'), ok]]);
  const b = new LvmThinBackend(pools(', overprovision: 4').tp, r, 'n');
  await b.createVolume(spec('pvc-big', 300 * MiB, { source: { kind: 'snapshot', volume: 'pvc-thin1', snapshot: 'snapshot-1' } }));
  const [create] = r.ran('lvcreate');
  assert.deepEqual(create!.slice(0, 8), ['lvcreate', '-q', '--yes', '-s', '-k', 'n', '-n', 'pvc-big']);
  assert.equal(create!.at(-1), 'fixvg/snap.snapshot-1');
  assert.ok(create!.includes('poolcsi.io/incomplete'));
  assert.equal(r.ran('lvextend').length, 1);
  await assert.rejects(b.createVolume(spec('pvc-small', 50 * MiB, { source: { kind: 'snapshot', volume: 'pvc-thin1', snapshot: 'snapshot-1' } })),
    (e) => e instanceof StorageError && e.kind === 'out-of-range');
  await assert.rejects(b.createVolume(spec('pvc-x', 200 * MiB, { source: { kind: 'snapshot', volume: 'pvc-thin1', snapshot: 'nope' } })),
    (e) => e instanceof StorageError && e.kind === 'not-found');
});

test('an LV of the same name that is not this pool\'s volume is a conflict, and is never deleted', async () => {
  const r = new ScriptedRunner([
    [isLvsAll, fixture('lvm/lvs-healthy.json')], [is('vgs'), fixture('lvm/vgs.json')],
    [is('lvcreate'), fail('lvcreate', 'create-exists')], [isLvsOf('foreign'), fixture('lvm/lvs-healthy.json')],
  ]);
  const b = new LvmThinBackend(pools(', overprovision: 4').tp, r, 'n');
  await assert.rejects(b.createVolume(spec('foreign', MiB)), (e) => e instanceof StorageError && e.kind === 'exists');
  await b.deleteVolume('foreign');
  await b.deleteVolume('pvc-thick1'); // a volume of the other pool
  assert.equal(r.ran('lvremove').length, 0);
});

test('thick: a create is one lvcreate; the same request again is answered from the existing LV', async () => {
  const r = new ScriptedRunner([
    [is('vgs'), fixture('lvm/vgs.json')],
    [(a) => a[0] === 'lvcreate' && a.includes('pvc-thick1'), fail('lvcreate', 'create-exists')],
    [is('lvcreate'), ok],
    [isLvsOf('pvc-thick1'), fixture('lvm/lvs-healthy.json')],
  ]);
  const b = new LvmThickBackend(pools().tk, r, 'n');
  const rec = await b.createVolume(spec('pvc-a', 10 * MiB, { params: { mirror: '1' } }));
  assert.equal(rec.sizeBytes, 12 * MiB);
  assert.deepEqual(rec.params, { mirror: '1' });
  assert.ok(r.ran('lvcreate')[0]!.join(' ').includes('--type raid1 -m 1'));
  await b.createVolume(spec('pvc-b', 10 * MiB));
  assert.equal(r.ran('vgs').length, 1, 'the extent size is read once');
  const again = await b.createVolume(spec('pvc-thick1', 64 * MiB, { mode: 'block' }));
  assert.equal(again.sizeBytes, 64 * MiB);
  await assert.rejects(b.createVolume(spec('pvc-thick1', 128 * MiB, { mode: 'block' })), (e) => e instanceof StorageError && e.kind === 'exists');
});

test('thick: errors from lvcreate keep their kind (no space, too few PVs for stripes)', async () => {
  const r = new ScriptedRunner([
    [is('vgs'), fixture('lvm/vgs.json')],
    [(a) => a[0] === 'lvcreate' && a.includes('-i'), fail('lvcreate', 'create-nostripes')],
    [is('lvcreate'), fail('lvcreate', 'create-nospace')],
  ]);
  const b = new LvmThickBackend(pools().tk, r, 'n');
  await assert.rejects(b.createVolume(spec('big', 100 * 1024 * MiB)), (e) => e instanceof StorageError && e.kind === 'exhausted');
  await assert.rejects(b.createVolume(spec('st', MiB, { params: { stripes: '3' } })), (e) => e instanceof StorageError && e.kind === 'invalid');
  await assert.rejects(b.createVolume(spec('lim', 5 * MiB, { limitBytes: 6 * MiB })), (e) => e instanceof StorageError && e.kind === 'out-of-range');
});

test('thick: a volume with copy-on-write snapshots is not deleted (they cannot outlive it)', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')]]);
  const b = new LvmThickBackend(pools().tk, r, 'n');
  await assert.rejects(b.deleteVolume('pvc-thick1'), (e) => e instanceof StorageError && e.kind === 'precondition' && /pvc-thick1@snapshot-2/.test(e.message));
  assert.equal(r.ran('lvremove').length, 0);
  const snap = await b.getSnapshot('pvc-thick1', 'snapshot-2');
  assert.equal(snap?.sizeBytes, 67108864, 'a COW snapshot reports its origin\'s size');
});

test('deleting removes the LV; the cached view is dropped after a change', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('lvremove'), ok]]);
  const b = new LvmThickBackend(pools().tk, r, 'n');
  await b.deleteVolume('pvc-striped');
  assert.deepEqual(r.ran('lvremove'), [['lvremove', '-q', '-y', 'fixvg/pvc-striped']]);
  await b.listVolumes();
  assert.equal(r.ran('lvs').length, 2);
});

test('publish records the node on the LV; another read-only flag for the same node conflicts', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('lvchange'), ok]]);
  const b = new LvmThickBackend(pools().tk, r, 'n');
  await b.publish('pvc-thick1', 'node1', { readonly: false, multiNode: false });
  assert.equal(r.ran('lvchange').length, 0, 'already recorded');
  await assert.rejects(b.publish('pvc-thick1', 'node1', { readonly: true, multiNode: false }), (e) => e instanceof StorageError && e.kind === 'exists');
  await b.publish('pvc-raid', 'node2', { readonly: true, multiNode: false });
  assert.deepEqual(r.ran('lvchange').at(-1), ['lvchange', '-q', '--addtag', 'poolcsi.io/pub=node2+3Aro', 'fixvg/pvc-raid']);
  await b.unpublish('pvc-thick1');
  assert.deepEqual(r.ran('lvchange').at(-1), ['lvchange', '-q', '--deltag', 'poolcsi.io/pub=node1+3Arw', 'fixvg/pvc-thick1']);
});

test('thin: admission keeps its own accounting between reads; a burst of creates costs one lvs', async () => {
  // Budget with overprovision 2: 512 MiB - 200 MiB handed out = 312 MiB.
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('vgs'), fixture('lvm/vgs.json')], [is('lvcreate'), ok],
    [isLvsOf('c'), fixture('lvm/lvs-partial.json')]]);
  const b = new LvmThinBackend(pools(', overprovision: 2').tp, r, 'n');
  await Promise.all([b.createVolume(spec('a', 100 * MiB)), b.createVolume(spec('b', 100 * MiB))]);
  await assert.rejects(b.createVolume(spec('c', 200 * MiB)), (e) => e instanceof StorageError && e.kind === 'exhausted' && /112 MiB|117440512 left/.test(e.message));
  assert.equal(r.ran('lvs').filter((c) => c.at(-1) === 'fixvg').length, 1);
  assert.equal(r.ran('lvcreate').length, 2);
});

test('a node without the VG holds no volumes: lists are empty, capacity is 0, a create says why', async () => {
  // Real LVM words for a VG that does not exist, naming this pool's VG.
  const missing = () => new ExecError('lvs', [], 5, fixture('lvm/create-novg.stderr').replaceAll('novg', 'fixvg'), '', 'exit');
  const r = new ScriptedRunner([[is('lvs'), missing], [is('vgs'), missing]]);
  const thin = new LvmThinBackend(pools().tp, r, 'n');
  assert.deepEqual(await thin.listVolumes(), []);
  assert.deepEqual(await thin.listSnapshots(), []);
  assert.equal(await thin.getVolume('x'), undefined);
  assert.equal((await thin.capacity()).availableBytes, 0);
  await assert.rejects(thin.createVolume(spec('x', MiB)), (e) => e instanceof StorageError && e.kind === 'unavailable');
  const thick = new LvmThickBackend(pools().tk, r, 'n');
  assert.equal((await thick.capacity()).availableBytes, 0);
  await assert.rejects(thick.createVolume(spec('x', MiB)), (e) => e instanceof StorageError && e.kind === 'unavailable' && /fixvg|novg/.test(e.message));
});

test('issue 10 item 7: saferemove refuses an open LV (FAILED_PRECONDITION) and wipes nothing', async () => {
  const { pools: [tk] } = parsePools('pools:\n  - {id: tk, type: lvm, vgname: fixvg, saferemove: zero}\n');
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-open.json')], [isLvsOf('pvc-striped'), fixture('lvm/lvs-open.json')], [is('blkdiscard'), ok], [is('lvremove'), ok], [is('lvchange'), ok]]);
  const b = new LvmThickBackend(tk as LvmPool, r, 'n');
  await assert.rejects(b.deleteVolume('pvc-striped'), (e) => e instanceof StorageError && e.kind === 'precondition' && /is open/.test(e.message));
  assert.deepEqual(r.ran('blkdiscard'), [], 'nothing wiped');
  assert.deepEqual(r.ran('lvremove'), [], 'nothing removed');
  assert.deepEqual(r.ran('lvchange'), [], 'not even marked');
});

test('saferemove reads whether the LV is open at the delete: a cached report that saw it closed does not let the wipe run', async () => {
  const { pools: [tk] } = parsePools('pools:\n  - {id: tk, type: lvm, vgname: fixvg, saferemove: zero}\n');
  // The VG read by a list (the LV closed), then the LV read again: opened since (a mount, a process).
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [isLvsOf('pvc-striped'), fixture('lvm/lvs-open.json')], [is('blkdiscard'), ok], [is('lvremove'), ok], [is('lvchange'), ok]]);
  const b = new LvmThickBackend(tk as LvmPool, r, 'n');
  assert.ok((await b.listVolumes()).some((v) => v.name === 'pvc-striped'), 'the list cached the VG with the LV closed');
  await assert.rejects(b.deleteVolume('pvc-striped'), (e) => e instanceof StorageError && e.kind === 'precondition' && /is open/.test(e.message));
  assert.deepEqual(r.ran('blkdiscard'), [], 'nothing wiped');
  assert.deepEqual(r.ran('lvchange'), [], 'not even marked');
});

test('issue 10 item 9: expand checks limit_bytes against the rounded size before growing', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('lvextend'), ok]]);
  const b = new LvmThinBackend(pools(', overprovision: 4').tp, r, 'n');
  // 100 MiB + 1 byte rounds up to 104 MiB (4 MiB extents): above a limit of 100 MiB + 512.
  await assert.rejects(b.expandVolume('pvc-thin1', 100 * MiB + 1, 100 * MiB + 512), (e) => e instanceof StorageError && e.kind === 'out-of-range');
  assert.deepEqual(r.ran('lvextend'), [], 'not grown');
  assert.equal((await b.expandVolume('pvc-thin1', 100 * MiB + 1, 104 * MiB)).sizeBytes, 104 * MiB);
});

test('issue 10 item 18: thin: a snapshot left by an earlier volume of the same name is ALREADY_EXISTS, not the answer', async () => {
  const healthy = fixture('lvm/lvs-healthy.json');
  const snap = (tags: string) => new LvmThinBackend(pools(', overprovision: 4').tp, new ScriptedRunner([[isLvsAll, tags]]), 'n');
  const isEarlier = (e: unknown) => e instanceof StorageError && e.kind === 'exists' && /earlier volume/.test(e.message);
  // Recorded volume and snapshot; the volume re-created after the snapshot (a later lv_time).
  const recreated = healthy.replace('"lv_time":"2026-11-21 06:32:56 +0000"', '"lv_time":"2026-11-21 07:00:00 +0000"');
  assert.notEqual(recreated, healthy);
  await assert.rejects(snap(recreated).createSnapshot('pvc-thin1', 'snapshot-1', 'snapshot-1'), isEarlier);
  // The recorded pair as it is: the snapshot of this volume is the answer.
  assert.equal((await snap(healthy).createSnapshot('pvc-thin1', 'snapshot-1', 'snapshot-1')).name, 'snapshot-1');
  // With the incarnation tags the times do not matter.
  const tagged = (volUid: string, snapUid: string) => healthy
    .replace('poolcsi.io/vol=pvc-thin1"', `poolcsi.io/vol=pvc-thin1,poolcsi.io/uid=${volUid}"`)
    .replace('poolcsi.io/snap=snapshot-1,poolcsi.io/vol=pvc-thin1', `poolcsi.io/snap=snapshot-1,poolcsi.io/srcuid=${snapUid},poolcsi.io/vol=pvc-thin1`);
  await assert.rejects(snap(tagged('0a0a', '0b0b')).createSnapshot('pvc-thin1', 'snapshot-1', 'snapshot-1'), isEarlier);
  assert.equal((await snap(tagged('0a0a', '0a0a')).createSnapshot('pvc-thin1', 'snapshot-1', 'snapshot-1')).name, 'snapshot-1');
});

test('issue 10 item 18: a new volume LV carries an incarnation id tag', async () => {
  const r = new ScriptedRunner([[isLvsAll, fixture('lvm/lvs-healthy.json')], [is('vgs'), fixture('lvm/vgs.json')], [is('lvcreate'), ok]]);
  const b = new LvmThinBackend(pools(', overprovision: 4').tp, r, 'n');
  await b.createVolume(spec('pvc-uid', 8 * MiB));
  assert.ok(r.ran('lvcreate')[0]!.some((a) => /^poolcsi\.io\/uid=[0-9a-f]{16}$/.test(a)));
});
