// The device node of a block device from its kernel numbers (e.g. an active LV's, as LVM
// reports them): /dev/dm-N exists on every node (devtmpfs creates it), while /dev/<vg>/<lv> and
// /dev/mapper/* are made by udev or by LVM itself and may be missing (no udev in the lab, a
// container's private /dev).
import { readFile, stat } from 'node:fs/promises';
import { NodeError } from './errors.js';
import { splitDev } from './stats.js';

async function isDevice(path: string, major: number, minor: number): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isBlockDevice()) return false;
    const d = splitDev(s.rdev);
    return d.major === major && d.minor === minor;
  } catch {
    return false;
  }
}

/** Path of the block device major:minor; `dmPath` (LVM's lv_dm_path) is the fallback. */
export async function devicePath(major: number, minor: number, dmPath: string, sysfs = '/sys'): Promise<string> {
  if (major < 0 || minor < 0) throw new NodeError('unavailable', `device ${dmPath || '?'} is not active`);
  let devname: string | undefined;
  try {
    const uevent = await readFile(`${sysfs}/dev/block/${major}:${minor}/uevent`, 'utf8');
    devname = /^DEVNAME=(.+)$/m.exec(uevent)?.[1]?.trim();
  } catch {
    // no sysfs entry: fall back to LVM's path below
  }
  if (devname && /^[A-Za-z0-9._/-]+$/.test(devname) && !devname.includes('..') && (await isDevice(`/dev/${devname}`, major, minor))) {
    return `/dev/${devname}`;
  }
  if (dmPath && (await isDevice(dmPath, major, minor))) return dmPath;
  throw new NodeError('unavailable', `no device node for ${major}:${minor} (${dmPath}): neither /dev/${devname ?? 'dm-?'} nor ${dmPath} is that block device`);
}
