// Volume usage for NodeGetVolumeStats: statfs for filesystems, the kernel's size for block
// devices (read from sysfs, no process per call).
import { readFile, stat, statfs } from 'node:fs/promises';

export interface Usage { unit: 'BYTES' | 'INODES'; total: number; available: number; used: number }

export async function filesystemUsage(path: string): Promise<Usage[]> {
  const s = await statfs(path);
  const total = s.blocks * s.bsize;
  const available = s.bavail * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const usages: Usage[] = [{ unit: 'BYTES', total, available, used }];
  if (s.files > 0) usages.push({ unit: 'INODES', total: s.files, available: s.ffree, used: s.files - s.ffree });
  return usages;
}

/** Linux dev_t → major, minor (new_encode_dev layout). */
export function splitDev(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  return { major: Number((d >> 8n) & 0xfffn), minor: Number((d & 0xffn) | ((d >> 12n) & 0xfff00n)) };
}

/** "major:minor" of the block device node at `path`, or undefined when it is none. */
export async function deviceNumbers(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isBlockDevice()) return undefined;
    const { major, minor } = splitDev(s.rdev);
    return `${major}:${minor}`;
  } catch {
    return undefined;
  }
}

/** Size in bytes of the block device node at `path` (a device or a bind mount of one). */
export async function blockDeviceSize(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isBlockDevice()) throw new Error(`${path} is not a block device`);
  const { major, minor } = splitDev(s.rdev);
  const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(sectors.trim()) * 512;
}
