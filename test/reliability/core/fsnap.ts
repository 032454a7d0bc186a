// What exists on the file system in the places a driver must not touch, before and after a
// fuzz: a recursive listing of bait trees, names with the fuzz marker in shared directories,
// and the mount table.
import { readdirSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FsAreas {
  /** Listed recursively (bounded); `skip` are subtrees the driver owns (pools, prefixes). */
  trees: string[];
  skip: string[];
  /** Listed one level deep: every entry (stable places like /, /etc). */
  stable: string[];
  /** Listed one level deep, only entries containing the marker (busy places like /tmp). */
  busy: string[];
  marker: string;
  /** Mount points under these are the driver's business. */
  mountRoots: string[];
  /** Mount points watched besides the trees, the stable and busy places and the marker: where a fuzz path could point. */
  mountWatch?: string[];
}

export function snapshot(a: FsAreas): Set<string> {
  const out = new Set<string>();
  const walk = (p: string, depth: number) => {
    if (a.skip.some((s) => p === s || p.startsWith(`${s}/`)) || out.size > 200_000) return;
    let st;
    try { st = lstatSync(p); } catch { return; }
    out.add(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${p}`);
    if (st.isDirectory() && depth < 12) for (const e of readdirSync(p)) walk(join(p, e), depth + 1);
  };
  for (const t of a.trees) walk(t, 0);
  for (const d of a.stable) for (const e of safeList(d)) out.add(`e ${join(d, e)}`);
  for (const d of a.busy) for (const e of safeList(d)) if (e.includes(a.marker)) out.add(`e ${join(d, e)}`);
  // Mounts of other programs on this machine come and go: watch only places a fuzz value names.
  const exact = new Set([...a.stable, ...a.busy, ...(a.mountWatch ?? [])]);
  const seen = new Map<string, number>();
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = l.split(' ')[4];
    if (!mp || a.mountRoots.some((r) => mp === r || mp.startsWith(`${r}/`))) continue;
    const watched = exact.has(mp) || mp.includes(a.marker) || a.trees.some((t) => mp === t || mp.startsWith(`${t}/`));
    if (!watched) continue;
    seen.set(mp, (seen.get(mp) ?? 0) + 1);
    out.add(`m ${mp} #${seen.get(mp)}`);
  }
  return out;
}

function safeList(d: string): string[] {
  try { return readdirSync(d); } catch { return []; }
}

export function diff(before: Set<string>, after: Set<string>): { created: string[]; removed: string[] } {
  return { created: [...after].filter((x) => !before.has(x)), removed: [...before].filter((x) => !after.has(x)) };
}
