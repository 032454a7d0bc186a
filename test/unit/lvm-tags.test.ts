import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeValue, encodeValue, parseTags, publishedFromTags, publishTag, snapshotTags, volumeFromTags, volumeTags,
} from '../../src/backends/lvm/tags.js';
import { isValidLvName, snapshotLvName, volumeLvName } from '../../src/backends/lvm/names.js';

// LVM's tag alphabet (lvm(8)): letters, digits, "_+.-" and "/=!:&#".
const LVM_TAG = /^[A-Za-z0-9_+.\-/=!:&#]+$/;

test('values round-trip through the tag encoding and stay in LVM\'s alphabet', () => {
  for (const v of ['pvc-0b1c', 'data claim', 'ns/name', 'a+b', 'ünï©ødé ✓', '-o noatime,discard', '+41', '', ':rw', '%&=#']) {
    const e = encodeValue(v);
    if (e) assert.match(e, LVM_TAG);
    assert.equal(decodeValue(e), v);
  }
  assert.equal(encodeValue('a b'), 'a+20b');
  assert.equal(encodeValue('a+b'), 'a+2Bb');
});

test('a volume\'s tags parse back to the same volume, foreign tags ignored', () => {
  const v = {
    pool: 'local-thin', name: 'pvc-1', requestName: 'pvc-1 (weird/name)', mode: 'block' as const,
    source: { kind: 'snapshot' as const, volume: 'pvc-0', snapshot: 'snapshot-9' },
    pvc: { namespace: 'team-a', name: 'data', pvName: 'pvc-1' },
    params: { fsType: 'xfs', mkfsOptions: '-m crc=1 -i size=512' },
  };
  const tags = volumeTags(v);
  for (const t of tags) assert.match(t, LVM_TAG);
  const parsed = volumeFromTags(parseTags([...tags, 'owner=someone', 'backup'].join(',')));
  assert.deepEqual(parsed, v);
});

test('snapshot tags are not mistaken for a volume', () => {
  const m = parseTags(snapshotTags('p', 'pvc-1', 'snap-1', 'snap-1').join(','));
  assert.equal(volumeFromTags(m), undefined);
});

test('publications are recorded per node with their read-only flag', () => {
  const m = parseTags([publishTag('node-1', false), publishTag('node.2', true)].join(','));
  assert.deepEqual(publishedFromTags(m), { 'node-1': { readonly: false }, 'node.2': { readonly: true } });
});

test('LV names: volume names kept when LVM accepts them; snapshot names never start with "snapshot"', () => {
  assert.equal(volumeLvName('pvc-0b1c'), 'pvc-0b1c');
  assert.match(volumeLvName('a_rimage_0'), /^pv\.[0-9a-f]{20}$/);
  assert.match(volumeLvName('-x'), /^pv\./);
  assert.equal(snapshotLvName('pvc-1', 'snapshot-0b1c'), 'snap.snapshot-0b1c');
  assert.notEqual(snapshotLvName('pvc-1', 'x_tmeta'), snapshotLvName('pvc-2', 'x_tmeta'));
  for (const n of ['snapshot', 'snapshot-1', 'pvmove0', 'a_tdata', '.', '..', '-a', 'a b']) assert.equal(isValidLvName(n), false, n);
  for (const n of ['pvc-1', 'snap.snapshot-1', 'a+b', '_x']) assert.equal(isValidLvName(n), true, n);
});
