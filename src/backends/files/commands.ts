// The argv of the file store (coreutils and grep only, never a shell string) and the parsers of
// what they print. Run on the storage host through the pool's Runner.
import type { Program } from '../lvm/commands.js';

/** Reads an object's state and whether its directory exists, in one run: cat prints the state
 * (when there is one), and says "Is a directory" for the directory itself when it exists. */
export const readObjectCmd = (home: string): Program => ({ program: 'cat', args: ['--', `${home}/state.json`, home] });

export interface ObjectView { home: boolean; state?: string }

export function parseObject(home: string, stdout: string, stderr: string): ObjectView {
  const errs = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const unexpected = errs.filter((l) => !l.endsWith(`${home}: Is a directory`) && !l.endsWith('No such file or directory'));
  if (unexpected.length) throw new Error(unexpected.join(' | '));
  return { home: errs.some((l) => l.endsWith(`${home}: Is a directory`)), ...(stdout.trim() ? { state: stdout.trim() } : {}) };
}

/** Every state file under `areas`, one `path:json` line each (exit 2 when an area is missing). */
export const listStatesCmd = (areas: readonly string[]): Program =>
  ({ program: 'grep', args: ['-r', '-H', '-s', '--include=state.json', '-e', '', '--', ...areas] });

/** `path:json` lines → the state text of each object directory. */
export function parseStates(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('/state.json:');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + '/state.json:'.length));
  }
  return m;
}

/** Fails with "File exists" for a directory that is there (for an object: a create a crash
 * cut short), and makes the others. */
export const mkdirCmd = (...dirs: string[]): Program => ({ program: 'mkdir', args: ['-m', '0700', '--', ...dirs] });
/** The state's new version, from stdin, flushed before the rename makes it the state. */
export const writeTempCmd = (file: string): Program => ({ program: 'dd', args: [`of=${file}.tmp`, 'conv=fsync', 'status=none'] });
export const renameCmd = (from: string, to: string): Program => ({ program: 'mv', args: ['-T', '--', from, to] });
/** A sparse image of `size` bytes (a new file reads zeros: nothing of an earlier volume). */
export const sizeCmd = (file: string, size: number): Program => ({ program: 'truncate', args: ['-s', String(size), '--', file] });
/** Grows a file to at least `size`, never shrinks it (a stale retry cannot cut data off). */
export const growCmd = (file: string, size: number): Program => ({ program: 'truncate', args: ['-s', `>${size}`, '--', file] });
/** reflink: shared extents, point in time, or a failure where the filesystem cannot; copy:
 * a sparse full copy (reflinked where it can be). cp truncates a leftover destination. */
export const copyCmd = (from: string, to: string, how: 'reflink' | 'copy'): Program => ({
  program: 'cp', args: [...(how === 'reflink' ? ['--reflink=always'] : ['--reflink=auto', '--sparse=always']), '--', from, to],
});
export const removeCmd = (paths: readonly string[]): Program => ({ program: 'rm', args: ['-r', '-f', '--', ...paths] });
export const dfCmd = (path: string): Program => ({ program: 'df', args: ['-B1', '--output=size,avail', '--', path] });

/** df's two numbers (total, available) in bytes. */
export function parseDf(out: string): { totalBytes: number; availableBytes: number } {
  const row = out.trim().split('\n')[1]?.trim().split(/\s+/).map(Number);
  if (!row || row.length !== 2 || row.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new Error(`unexpected df output: ${JSON.stringify(out.slice(0, 200))}`);
  return { totalBytes: row[0]!, availableBytes: row[1]! };
}
