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

/** Size in bytes of the block device node at `path` (a device or a bind mount of one). */
export async function blockDeviceSize(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isBlockDevice()) throw new Error(`${path} is not a block device`);
  const major = Number(BigInt(s.rdev) >> 8n & 0xfffn);
  const minor = Number((BigInt(s.rdev) & 0xffn) | ((BigInt(s.rdev) >> 12n) & 0xfff00n));
  const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(sectors.trim()) * 512;
}
