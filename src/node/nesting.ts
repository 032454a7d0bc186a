// A staging or target path must not lie inside another volume: not inside a filesystem this node
// staged or published (a directory made there changes that volume's data, a file removed there
// is that volume's data lost, and a mount there makes the outer volume's unmount busy), nor
// inside another volume's staging directory (which holds its stash). The CO never nests them;
// a request that does is refused before anything is made, and NodeUnpublish never removes a
// path inside a volume. Mounts are found in mountinfo and stashes by name, so nothing inside a
// mounted network filesystem is touched (a dead server would hang the call).
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { mountAt, mountContaining, type MountEntry } from '../sys/mountinfo.js';
import { isNetworkFs } from './mount.js';
import { MOUNT_DIR, STASH_FILE } from './stash.js';

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A staging directory: it holds a stash. Not asked inside a network filesystem. */
async function isStagingDir(mounts: readonly MountEntry[], dir: string): Promise<boolean> {
  const fs = mountContaining(mounts, dir);
  if (fs && isNetworkFs(fs.fsType)) return false;
  return exists(join(dir, STASH_FILE));
}

/** The staging directory whose volume `m` shows: m is <staging>/mount itself, or a bind of it (a published target). */
async function stagedAs(mounts: readonly MountEntry[], m: MountEntry): Promise<string | undefined> {
  const candidates = mounts.filter((x) => basename(x.mountPoint) === MOUNT_DIR && (x === m || (x.majorMinor === m.majorMinor && x.root === m.root)));
  for (const c of candidates) {
    const staging = dirname(c.mountPoint);
    if (await isStagingDir(mounts, staging)) return staging;
  }
  return undefined;
}

/**
 * What `path` lies inside, if it is inside a volume: "the volume staged at S" (S's filesystem,
 * at S/mount or at a target published from it) or "the staging directory S". The path itself
 * is not looked at, only its parents, from the top.
 */
export async function enclosingVolume(mounts: readonly MountEntry[], path: string): Promise<string | undefined> {
  const parts = resolve(path).split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const parent = `/${parts.slice(0, i).join('/')}`;
    const m = mountAt(mounts, parent);
    if (m) {
      const staging = await stagedAs(mounts, m);
      if (staging) return `the volume staged at ${staging}${m.mountPoint === join(staging, MOUNT_DIR) ? '' : ` (published at ${parent})`}`;
    }
    if (await isStagingDir(mounts, parent)) return `the staging directory ${parent}`;
  }
  return undefined;
}

/** Mounts strictly below `path` (a mount there keeps `path`'s filesystem busy). */
export function mountsBelow(mounts: readonly MountEntry[], path: string): MountEntry[] {
  const p = resolve(path);
  return mounts.filter((m) => m.mountPoint.startsWith(`${p}/`));
}
