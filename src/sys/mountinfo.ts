// Reading the kernel's mount table (/proc/self/mountinfo) directly: no findmnt process per check.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export interface MountEntry {
  id: number;
  parent: number;
  majorMinor: string;
  /** Path inside the source filesystem that is mounted (≠ "/" for bind mounts of subdirectories). */
  root: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as octal.
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      majorMinor: f[2]!,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      options: f[5]!.split(','),
      fsType: f[sep + 1]!,
      source: unescape(f[sep + 2]!),
      superOptions: f[sep + 3]!.split(','),
    });
  }
  return out;
}

export async function readMounts(file = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(file, 'utf8'));
}

/** The topmost mount exactly at `path`, if any. */
export function mountAt(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  const p = resolve(path);
  let found: MountEntry | undefined;
  for (const m of mounts) if (m.mountPoint === p) found = m;
  return found;
}

/** The mount that contains `path` (longest mount point prefix, last one wins). */
export function mountContaining(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  const p = resolve(path);
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = p === mp || mp === '/' || p.startsWith(`${mp}/`);
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}
