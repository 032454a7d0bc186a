// The krbd transport without a kernel: feature planning, map options, udev detection, device lookup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { featurePlan, kernelFeatures } from '../../src/node/transports/rbd-features.js';
import { findMapping, mapOptionArgs as mapOptions, readMappings, udevRuns, type MappedDevice } from '../../src/node/transports/rbd.js';
import { fixture, recordedRbdSysfs } from './rbd-helpers.js';

const DEFAULTS = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'];
/** /sys/bus/rbd/supported_features of the UML 6.1 kernel (read in the lab). */
const KRBD_61 = 0x1bf;

test('krbd 6.1 maps the default features and clone children ("operations") as they are', () => {
  assert.deepEqual(featurePlan([...DEFAULTS, 'operations'], KRBD_61), { disable: [], blocking: [] });
});

test('features the kernel lacks are disabled (dependents first); others block the map', () => {
  const noObjectMap = KRBD_61 & ~0x8 & ~0x10;
  assert.deepEqual(featurePlan(DEFAULTS, noObjectMap), { disable: ['fast-diff', 'object-map'], blocking: [] });
  const old = 0x1 | 0x2; // layering + striping only (kernels before 4.9)
  assert.deepEqual(featurePlan(DEFAULTS, old), { disable: ['fast-diff', 'object-map', 'exclusive-lock', 'deep-flatten'], blocking: [] });
  assert.deepEqual(featurePlan([...DEFAULTS, 'journaling'], KRBD_61), { disable: ['journaling'], blocking: [] });
  assert.deepEqual(featurePlan(['layering', 'migrating'], KRBD_61), { disable: [], blocking: ['migrating'] });
  assert.deepEqual(featurePlan(DEFAULTS, undefined), { disable: [], blocking: [] }, 'unknown kernel: try the map');
});

test('supported_features is read as hex', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-krbd-'));
  try {
    await writeFile(join(dir, 'f'), '0x1bf\n');
    assert.equal(await kernelFeatures(join(dir, 'f')), KRBD_61);
    assert.equal(await kernelFeatures(join(dir, 'missing')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('noudev where udev does not run; pool map options appended', async () => {
  assert.deepEqual(mapOptions(false), ['-o', 'noudev']);
  assert.deepEqual(mapOptions(true), []);
  assert.deepEqual(mapOptions(false, ['ms_mode=prefer-crc']), ['-o', 'noudev,ms_mode=prefer-crc']);
  assert.ok(!mapOptions(false, []).includes('exclusive'), 'never -o exclusive (RWX block maps on two nodes)');
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-udev-'));
  try {
    assert.equal(udevRuns('auto', join(dir, 'control')), false);
    await writeFile(join(dir, 'control'), '');
    assert.equal(udevRuns('auto', join(dir, 'control')), true);
    assert.equal(udevRuns('off', join(dir, 'control')), false);
    assert.equal(udevRuns('on', join(dir, 'nothing')), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('mappings read from sysfs are what `rbd device list` printed at the same moment (both recorded in a UML node)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-sys-'));
  try {
    const devs = await readMappings(await recordedRbdSysfs(dir));
    const listed = (JSON.parse(fixture('device-list.json')) as Array<Record<string, string>>)
      .map((d): MappedDevice => ({ pool: d.pool!, namespace: d.namespace!, name: d.name!, snap: d.snap!, device: d.device! }));
    assert.equal(listed.length, 3);
    assert.deepEqual(devs, listed);
    // A device unmapped mid-read, a kernel without namespaces, and no rbd module at all.
    await rm(join(dir, 'bus/rbd/devices/1/name'));
    await rm(join(dir, 'bus/rbd/devices/2/pool_ns'));
    assert.deepEqual((await readMappings(dir)).map((d) => [d.device, d.namespace]), [['/dev/rbd0', ''], ['/dev/rbd2', '']]);
    assert.deepEqual(await readMappings(join(dir, 'nothing')), []);
    // A tree that cannot be read is not "nothing mapped": an unstage must not answer OK on it.
    await writeFile(join(dir, 'bus/rbd/devices/0/pool'), 'rbd\n');
    await rm(join(dir, 'bus/rbd/devices/0/name'));
    await mkdir(join(dir, 'bus/rbd/devices/0/name'));
    await assert.rejects(readMappings(dir), { kind: 'unavailable' });
    assert.deepEqual(findMapping(devs, 'rbd', 'b').map((d) => d.device), ['/dev/rbd0', '/dev/rbd1']);
    assert.deepEqual(findMapping(devs, 'rbd', 'c'), [], 'a mapped snapshot is not the image');
    assert.deepEqual(findMapping(devs, 'other', 'b'), []);
    assert.deepEqual(findMapping([{ ...devs[0]!, namespace: 'ns' }], 'rbd', 'b'), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
