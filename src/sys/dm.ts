// Device-mapper devices as sysfs shows them (/sys/block/dm-N/dm/{name,uuid}, dev): how a node
// finds an active LV's device without running LVM. LVM names an LV's device "<vg>-<lv>" with each
// "-" inside a name doubled, and gives it the uuid "LVM-<vg uuid><lv uuid>"; its sub-devices
// (-real, -cow, -tpool, -tdata, -tmeta) and a thin pool's own device (-pool) carry a suffix.
import { readdir, readFile } from 'node:fs/promises';
import { devicePath } from './device.js';

/** LVM's device-mapper name of vg/lv. */
export function lvmDmName(vg: string, lv: string): string {
  return `${vg.replaceAll('-', '--')}-${lv.replaceAll('-', '--')}`;
}

/** An LV's own device (not a sub-device, not a thin pool's): "LVM-" and two 32-character ids. */
const LV_UUID = /^LVM-[A-Za-z0-9]{64}$/;

/** The kernel numbers of vg/lv's device when the LV is active here, else undefined. */
export async function activeLv(vg: string, lv: string, sysfs = '/sys'): Promise<{ major: number; minor: number; name: string } | undefined> {
  const name = lvmDmName(vg, lv);
  const block = `${sysfs}/block`;
  const devices = (await readdir(block).catch(() => [] as string[])).filter((d) => /^dm-[0-9]+$/.test(d));
  for (const d of devices) {
    const read = (f: string) => readFile(`${block}/${d}/${f}`, 'utf8').then((v) => v.trim(), () => '');
    if ((await read('dm/name')) !== name) continue;
    const [uuid, dev] = await Promise.all([read('dm/uuid'), read('dev')]);
    const m = /^([0-9]+):([0-9]+)$/.exec(dev);
    // Names are unique among dm devices: this one is the LV's, or the LV is not active here.
    return LV_UUID.test(uuid) && m ? { major: Number(m[1]), minor: Number(m[2]), name } : undefined;
  }
  return undefined;
}

/** The device node of vg/lv when the LV is active here and its node exists, else undefined (the
 * caller asks LVM then). */
export async function activeLvDevice(vg: string, lv: string, sysfs = '/sys'): Promise<string | undefined> {
  const here = await activeLv(vg, lv, sysfs);
  if (!here) return undefined;
  return devicePath(here.major, here.minor, `/dev/mapper/${here.name}`, sysfs).catch(() => undefined);
}
