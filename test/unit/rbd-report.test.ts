// Parsing rbd/ceph JSON, against output recorded from real Ceph 16 runs (test/fixtures/rbd/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDf, parseInfo, parseLs, parseMeta, parseRbdTime, parseSnaps, parseTrash, ReportError,
} from '../../src/backends/rbd/report.js';
import { readState, userSnaps } from '../../src/backends/rbd/state.js';
import { fixture } from './rbd-helpers.js';


test('rbd info: plain image, clone, clone of a trashed parent', () => {
  const plain = parseInfo(fixture('info-plain.json'));
  assert.equal(plain.name, 'fx-parent');
  assert.equal(plain.size, 64 * 1024 * 1024);
  assert.equal(plain.snapshotCount, 2, 'counts the trashed snapshot too');
  assert.deepEqual(plain.features, ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten', 'operations']);
  assert.equal(plain.parent, undefined);

  const clone = parseInfo(fixture('info-clone.json'));
  assert.deepEqual(clone.parent, { pool: 'rbd', namespace: '', image: 'fx-parent', id: '128ef8b8f911', snapshot: 'snap-1', trash: false });
  assert.ok(clone.opFeatures.includes('clone-child'));

  const orphan = parseInfo(fixture('info-clone-trashed-parent.json'));
  assert.equal(orphan.parent?.trash, true);
  assert.equal(orphan.parent?.image, 'fx-gone');
});

test('rbd ls -l: images and their (user) snapshots, with ids', () => {
  const ls = parseLs(fixture('ls-long.json'));
  const images = ls.filter((e) => e.snapshot === undefined).map((e) => e.image);
  assert.deepEqual(images, ['fx-child', 'fx-child2', 'fx-parent', 'img1', 'x']);
  const snap = ls.find((e) => e.snapshot === 'snap-1');
  assert.deepEqual(snap, { image: 'fx-parent', id: '128ef8b8f911', size: 67108864, snapshot: 'snap-1', snapshotId: 19 });
  assert.equal(ls.find((e) => e.image === 'fx-child')?.parent?.image, 'fx-parent');
  assert.deepEqual(parseLs(''), [], 'an empty pool prints nothing');
});

test('rbd snap ls --all: user and trash namespaces; poolcsi snapshots are not CSI snapshots', () => {
  const snaps = parseSnaps(fixture('snap-ls-all.json'));
  assert.deepEqual(snaps.map((s) => [s.name, s.namespace]), [['snap-1', 'user'], ['5829cbda-35d1-497d-8694-e43cb6b0dc13', 'trash']]);
  assert.equal(snaps[0]!.createdAt, '2026-11-21T06:26:25.000Z');
  assert.deepEqual(userSnaps(snaps).map((s) => s.name), ['snap-1']);
  const internal = [{ ...snaps[0]!, name: '_poolcsi-clone-x' }];
  assert.deepEqual(userSnaps(internal), []);
});

test('rbd trash ls --long: expired entries', () => {
  assert.deepEqual(parseTrash(fixture('trash-ls.json')), [{ id: '12a8a854983e', name: 'fx-gone', source: 'USER', expired: true }]);
});

test('rbd image-meta list: state JSON, and nothing at all for an image without metadata', () => {
  const meta = parseMeta(fixture('image-meta-list.json'));
  const state = readState(meta, 'pvc-1');
  assert.equal(state?.request, 'pvc-1');
  assert.equal(state?.mode, 'block');
  assert.deepEqual(state?.pvc, { namespace: 'default', name: 'disk' });
  assert.equal(fixture('image-meta-list-empty.json'), '');
  assert.deepEqual(parseMeta(fixture('image-meta-list-empty.json')), {});
  assert.equal(readState({ 'poolcsi.io/volume': '{not json' }, 'pvc-1'), undefined, 'a damaged state is no state');
});

test('a state naming another image is its parent\'s, copied by librbd into a clone: no state of this one', () => {
  const own = JSON.stringify({ v: 1, name: 'pvc-2', request: 'pvc-2', mode: 'block', params: {}, created: '2026-12-03T00:00:00.000Z', complete: true });
  assert.equal(readState({ 'poolcsi.io/volume': own }, 'pvc-2')?.request, 'pvc-2');
  assert.equal(readState({ 'poolcsi.io/volume': own }, 'pvc-3'), undefined);
  // Written before the name was recorded (the recorded fixture): taken as the image's own.
  assert.equal(readState(parseMeta(fixture('image-meta-list.json')), 'pvc-9')?.request, 'pvc-1');
});

test('ceph df: per-pool max_avail', () => {
  const pools = parseDf(fixture('ceph-df.json'));
  const rbd = pools.find((p) => p.name === 'rbd');
  assert.ok(rbd && rbd.maxAvail > 1e9, 'the 2 GiB memstore OSD leaves most of it');
  assert.deepEqual(parseDf('{"stats":{},"pools":[]}'), [], 'without a mgr the pool list is empty');
});

test('rbd times are ctime(3) strings in UTC (poolcsi runs rbd with TZ=UTC)', () => {
  assert.equal(parseRbdTime('Sat Nov 21 06:08:18 2026'), '2026-11-21T06:08:18.000Z');
  assert.equal(parseRbdTime('Mon Feb  2 23:59:01 2026'), '2026-02-02T23:59:01.000Z');
  assert.throws(() => parseRbdTime('2026-11-21 06:08:18'), ReportError);
});

test('output that is not what poolcsi expects fails with the command named', () => {
  assert.throws(() => parseInfo('rbd: error'), /unexpected output from rbd info: not JSON/);
  assert.throws(() => parseInfo('{"name":"x"}'), /unexpected output from rbd info: id/);
  assert.throws(() => parseDf(''), /ceph df/);
});
