// Mounting and unmounting, through `mount`/`umount` (argv only), with state read from mountinfo.
import type { Runner } from '../exec/index.js';
import { mountAt, readMounts, type MountEntry } from '../sys/mountinfo.js';

const MOUNT_TIMEOUT = 120_000;

export class Mounter {
  constructor(private readonly runner: Runner) {}

  async at(path: string): Promise<MountEntry | undefined> {
    return mountAt(await readMounts(), path);
  }

  async isMounted(path: string): Promise<boolean> {
    return (await this.at(path)) !== undefined;
  }

  /** Bind `source` (a directory or a device node) onto `target`, then apply options. */
  async bind(source: string, target: string, options: readonly string[] = []): Promise<void> {
    await this.runner.run('mount', ['--bind', '--', source, target], { timeoutMs: MOUNT_TIMEOUT });
    // Bind mounts ignore most options on the first call; a remount applies them (ro, nosuid...).
    if (options.length) {
      await this.runner.run('mount', ['-o', ['remount', 'bind', ...options].join(','), '--', target], { timeoutMs: MOUNT_TIMEOUT });
    }
  }

  async mount(source: string, target: string, fsType: string, options: readonly string[] = []): Promise<void> {
    const args = ['-t', fsType];
    if (options.length) args.push('-o', options.join(','));
    await this.runner.run('mount', [...args, '--', source, target], { timeoutMs: MOUNT_TIMEOUT });
  }

  /** Unmounts every mount stacked at `path`; nothing to do when none. */
  async unmount(path: string): Promise<void> {
    for (let i = 0; i < 8 && (await this.isMounted(path)); i++) {
      await this.runner.run('umount', ['--', path], { timeoutMs: MOUNT_TIMEOUT });
    }
  }
}
