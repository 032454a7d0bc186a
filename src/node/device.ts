// The device node of a block device from its kernel numbers (e.g. an active LV's, as LVM
// reports them): /dev/dm-N exists on every node (devtmpfs creates it), while /dev/<vg>/<lv> and
// /dev/mapper/* are made by udev or by LVM itself and may be missing (no udev in the lab, a
// container's private /dev). On a storage host reached through another Runner (SSH), the same
// lookup runs there.
import { readFile, stat } from 'node:fs/promises';
import { local, type Runner } from '../exec/index.js';
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

/** The same check on the runner's host: `stat -L` prints the type and the hex device numbers. */
async function isRemoteDevice(runner: Runner, path: string, major: number, minor: number): Promise<boolean> {
  try {
    const out = (await runner.run('stat', ['-L', '-c', '%F %t %T', '--', path], { timeoutMs: 30_000 })).stdout.trim();
    const m = /^block special file ([0-9a-f]+) ([0-9a-f]+)$/.exec(out);
    return !!m && parseInt(m[1]!, 16) === major && parseInt(m[2]!, 16) === minor;
  } catch {
    return false;
  }
}

/**
 * Path of the block device major:minor on the runner's host; `dmPath` (LVM's lv_dm_path) is the
 * fallback. Locally the files are read directly; another host is asked with cat and stat.
 */
export async function devicePath(major: number, minor: number, dmPath: string, sysfs = '/sys', runner: Runner = local): Promise<string> {
  if (major < 0 || minor < 0) throw new NodeError('unavailable', `device ${dmPath || '?'} is not active`);
  const here = runner === local;
  const uevent = `${sysfs}/dev/block/${major}:${minor}/uevent`;
  const check = (path: string) => (here ? isDevice(path, major, minor) : isRemoteDevice(runner, path, major, minor));
  let devname: string | undefined;
  try {
    const text = here ? await readFile(uevent, 'utf8') : (await runner.run('cat', [uevent], { timeoutMs: 30_000 })).stdout;
    devname = /^DEVNAME=(.+)$/m.exec(text)?.[1]?.trim();
  } catch {
    // no sysfs entry: fall back to LVM's path below
  }
  if (devname && /^[A-Za-z0-9._/-]+$/.test(devname) && !devname.includes('..') && (await check(`/dev/${devname}`))) {
    return `/dev/${devname}`;
  }
  if (dmPath && (await check(dmPath))) return dmPath;
  throw new NodeError('unavailable', `no device node for ${major}:${minor} (${dmPath}): neither /dev/${devname ?? 'dm-?'} nor ${dmPath} is that block device`);
}
