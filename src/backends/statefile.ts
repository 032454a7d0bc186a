// Small JSON state files beside the data (dir and nfs pools keep their state this way).
// Writes are atomic (temp file, fsync, rename) so a crash leaves the old or the new version.
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../sys/atomic.js';

export async function readState<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`state file ${file} is not valid JSON; inspect or remove it by hand`);
  }
}

export async function writeState(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}

/**
 * Removes what killed writes of `file` left (`<file>.<hex>.tmp`). Only for callers that hold the
 * object's lock: a live write of the same file cannot be running then.
 */
export async function sweepTemps(file: string): Promise<void> {
  const base = basename(file);
  let names: string[];
  try { names = await readdir(dirname(file)); } catch { return; }
  for (const n of names) {
    if (n.startsWith(`${base}.`) && /^\.[0-9a-f]+\.tmp$/.test(n.slice(base.length))) await rm(join(dirname(file), n), { force: true });
  }
}

/**
 * Reads `file` for a read-modify-write: first removes the temp files killed writes of it left.
 * Only for callers that hold the object's lock (see sweepTemps).
 */
export async function readStateForUpdate<T>(file: string): Promise<T | undefined> {
  await sweepTemps(file);
  return readState<T>(file);
}
