// Small JSON state files beside the data (dir and nfs pools keep their state this way).
// Writes are atomic (temp file, fsync, rename) so a crash leaves the old or the new version.
import { open, readFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

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
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}
