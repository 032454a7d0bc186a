// Staging and target paths come from the CO; they are checked before any mount:
// absolute, normalized, no symlink at the path itself, and under an allowed prefix.
import { lstat } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';

export class PathError extends Error {
  constructor(message: string) { super(message); this.name = 'PathError'; }
}

export function checkPathShape(path: string, field: string, prefixes: readonly string[]): string {
  if (!path) throw new PathError(`${field} is required`);
  if (path.length > 4096 || /[\0\n]/.test(path)) throw new PathError(`${field} is too long or contains NUL/newline`);
  if (!isAbsolute(path)) throw new PathError(`${field} "${path}" must be an absolute path`);
  const clean = normalize(path).replace(/(.)\/+$/, '$1');
  if (path.split('/').includes('..') || clean === '/') throw new PathError(`${field} "${path}" must not contain ".." or be "/"`);
  if (prefixes.length && !prefixes.some((p) => clean === p || clean.startsWith(p.endsWith('/') ? p : `${p}/`))) {
    throw new PathError(`${field} "${path}" is outside the allowed directories (${prefixes.join(', ')})`);
  }
  return clean;
}

/** The path's type if it exists (refusing symlinks, which could redirect a mount). */
export async function existingKind(path: string, field: string): Promise<'dir' | 'file' | 'other' | undefined> {
  let s;
  try {
    s = await lstat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A stale mount (ENOTCONN, EIO on a dead NFS server) still counts as present.
    if (code === 'ENOTCONN' || code === 'EIO' || code === 'ESTALE') return 'other';
    throw e;
  }
  if (s.isSymbolicLink()) throw new PathError(`${field} "${path}" is a symbolic link; refusing to mount over it`);
  return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
}
