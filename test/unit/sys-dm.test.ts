// An active LV's device found in sysfs by its device-mapper name (src/sys/dm.ts), against a sysfs
// tree and the lvs of the same moment, both recorded in a lab node (test/fixtures/lvm/record.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { activeLv, lvmDmName } from '../../src/sys/dm.js';

const fixture = (n: string) => readFileSync(new URL(`../../../test/fixtures/lvm/${n}`, import.meta.url), 'utf8');

async function recordedSysfs(dir: string): Promise<string> {
  for (const line of fixture('sysfs-dm.txt').split('\n').filter(Boolean)) {
    const i = line.indexOf(':');
    const file = join(dir, line.slice('/sys/'.length, i));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${line.slice(i + 1)}\n`);
  }
  return dir;
}

test('an active LV is found by its device-mapper name with the kernel numbers lvs reported; pools and sub-devices are not LVs', async () => {
  const sys = await recordedSysfs(await mkdtemp(join(tmpdir(), 'poolcsi-dm-')));
  try {
    // lvs -a: name, KMaj, KMin, DMPath, Active
    const rows = fixture('lvs-devices.txt').split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/));
    const volumes = rows.filter((r) => !r[0]!.startsWith('[') && r[0] !== 'thin');
    assert.equal(volumes.length, 3);
    for (const [name, major, minor, dmPath] of volumes) {
      assert.equal(`/dev/mapper/${lvmDmName('labvg', name!)}`, dmPath, 'LVM\'s own device-mapper name');
      assert.deepEqual(await activeLv('labvg', name!, sys), { major: Number(major), minor: Number(minor), name: lvmDmName('labvg', name!) }, name);
    }
    assert.equal(await activeLv('labvg', 'thin', sys), undefined, 'the thin pool\'s device (uuid -pool) is not a volume');
    assert.equal(await activeLv('labvg', 'thin_tmeta', sys), undefined, 'a sub-device');
    assert.equal(await activeLv('labvg', 'pvc-nosuch', sys), undefined);
    assert.equal(await activeLv('other', 'pvc-thick-1', sys), undefined, 'another VG');
    assert.equal(await activeLv('labvg', 'pvc-thick-1', join(sys, 'nothing')), undefined, 'no device-mapper here');
    assert.equal(lvmDmName('my-vg', 'a-b--c'), 'my--vg-a--b----c');
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});
