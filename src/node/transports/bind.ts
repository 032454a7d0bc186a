// `bind`: the volume is a directory on this node (dir pools); staging bind-mounts it.
//   bind.path  the volume's data directory, absolute, no symbolic link anywhere in it
import { realpath, stat } from 'node:fs/promises';
import { NodeError } from '../errors.js';
import { checkAbsolutePath, checkKeys } from './grammar.js';
import type { Attached, Condition, Descriptor, Stashed, Transport } from './types.js';

export class BindTransport implements Transport {
  readonly kind = 'bind';

  parse(d: Descriptor): Descriptor {
    checkKeys(d, this.kind, ['path']);
    return { path: checkAbsolutePath(d.path ?? '', 'bind.path') };
  }

  async attach(d: Descriptor): Promise<Attached> {
    const path = this.parse(d).path!;
    // A symlink in any component could point the bind anywhere on the node: refuse it.
    let real: string;
    try {
      real = await realpath(path);
    } catch (e) {
      throw new NodeError('not-found', `volume directory ${path} does not exist on this node (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (real !== path) throw new NodeError('invalid', `volume_context bind.path ${path} resolves to ${real}: a symbolic link in the path is refused`);
    if (!(await stat(path)).isDirectory()) throw new NodeError('precondition', `volume directory ${path} is not a directory`);
    return { kind: 'directory', path, stash: {} };
  }

  /** Nothing is attached for a directory. */
  async detach(): Promise<void> { /* nothing */ }

  async condition(s: Stashed): Promise<Condition> {
    try {
      const st = await stat(s.path);
      if (!st.isDirectory()) return { abnormal: true, message: `${s.path} is not a directory` };
    } catch {
      return { abnormal: true, message: `volume directory ${s.path} is missing` };
    }
    return { abnormal: false, message: 'volume directory present' };
  }
}
