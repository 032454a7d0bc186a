// Staging and target paths come from the CO; they are checked before any mount:
// absolute, normalized, no symlink at the path itself, and under an allowed prefix, after the
// symbolic links among its parents are resolved (mount(2) follows them).
import { realpathSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';

export class PathError extends Error {
  constructor(message: string) { super(message); this.name = 'PathError'; }
}

export function checkPathShape(path: string, field: string, prefixes: readonly string[]): string {
  if (!path) throw new PathError(`${field} is required`);
  if (path.length > 4096 || /[\0\n]/.test(path)) throw new PathError(`${field} is too long or contains NUL/newline`);
  if (!isAbsolute(path)) throw new PathError(`${field} "${path}" must be an absolute path`);
  const clean = strip(normalize(path));
  if (path.split('/').includes('..') || clean === '/') throw new PathError(`${field} "${path}" must not contain ".." or be "/"`);
  if (!prefixes.length) return clean;
  // Where the path really is: its existing parents resolved. The last component is left alone
  // (a symlink there is refused by existingKind before anything is mounted).
  const real = join(resolveExisting(dirname(clean)), basename(clean));
  const allowed = prefixes.map((p) => strip(normalize(p)));
  const inside = (p: string, prefix: string) => p.startsWith(prefix === '/' ? '/' : `${prefix}/`) && p !== prefix;
  const ok = allowed.some((p) => inside(clean, p) && inside(real, resolveExisting(p)));
  if (!ok) {
    const why = allowed.some((p) => clean === p || real === resolveExisting(p)) ? 'is an allowed directory itself, not a path inside it'
      : real !== clean && allowed.some((p) => inside(clean, p)) ? `resolves to "${real}" through a symbolic link, outside the allowed directories`
        : 'is outside the allowed directories';
    throw new PathError(`${field} "${path}" ${why} (${prefixes.join(', ')})`);
  }
  return real;
}

const strip = (p: string) => p.replace(/(.)\/+$/, '$1');

/** `path` with its longest existing ancestor replaced by that ancestor's real path. */
function resolveExisting(path: string): string {
  const rest: string[] = [];
  let p = path;
  for (;;) {
    try {
      const real = realpathSync(p);
      return rest.length ? join(real, ...rest.reverse()) : real;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A missing component (or a stale mount we cannot stat) is taken literally; its parent is resolved.
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENOTCONN' && code !== 'EIO' && code !== 'ESTALE') throw e;
      if (p === '/') return path;
      rest.push(basename(p));
      p = dirname(p);
    }
  }
}

/** The path's type if it exists (refusing symlinks, which could redirect a mount). */
export async function existingKind(path: string, field: string): Promise<'dir' | 'file' | 'other' | undefined> {
  let s;
  try {
    s = await lstat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new PathError(`${field} "${path}" lies below something that is not a directory`);
    // A stale mount (ENOTCONN, EIO on a dead NFS server) still counts as present.
    if (code === 'ENOTCONN' || code === 'EIO' || code === 'ESTALE') return 'other';
    throw e;
  }
  if (s.isSymbolicLink()) throw new PathError(`${field} "${path}" is a symbolic link; refusing to mount over it`);
  return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
}
