// Mounting and unmounting, through `mount`/`umount` (argv only), with state read from mountinfo.
import { ExecError, type Runner } from '../exec/index.js';
import { mountAt, readMounts, type MountEntry } from '../sys/mountinfo.js';

const MOUNT_TIMEOUT = 120_000;
const UNMOUNT_STEP_TIMEOUT = 15_000;

/**
 * Unmounts everything stacked at `path`. For network filesystems, and for any umount that
 * hangs, it always finishes: plain, then forced (-f: aborts RPCs to a dead NFS server), then
 * lazy (-l: detached now, cleaned up once unused). A local filesystem that is merely busy is
 * not detached lazily: that error is thrown, as the device below it must not be released.
 * `-c` keeps umount from stat()ing the path (which blocks on a dead hard mount) and `-i` from
 * running umount.nfs (which calls the dead server's mountd). The mount table is read from
 * /proc/self/mountinfo, never by touching the mount.
 */
export async function unmountStubborn(runner: Runner, path: string, stepTimeoutMs = UNMOUNT_STEP_TIMEOUT): Promise<void> {
  const steps: string[][] = [[], ['-f'], ['-l']];
  let step = 0;
  let lastError: unknown;
  for (let i = 0; i < 16; i++) {
    const m = mountAt(await readMounts(), path);
    if (!m) return;
    const flags = steps[Math.min(step, steps.length - 1)]!;
    try {
      await runner.run('umount', ['-i', '-c', ...flags, '--', path], { timeoutMs: stepTimeoutMs });
      lastError = undefined;
    } catch (e) {
      const hung = e instanceof ExecError && (e.reason === 'timeout' || e.reason === 'signal');
      if (!hung && !isNetworkFs(m.fsType)) throw e;
      lastError = e;
      step++;
    }
  }
  if (mountAt(await readMounts(), path)) {
    throw new Error(`cannot unmount ${path}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
  }
}

const NETWORK_FS = /^(nfs|nfs4|cifs|smb3|ceph|fuse\.sshfs)$/;

/** A filesystem whose every access may wait on a server (stat() on it can hang). */
export function isNetworkFs(fsType: string): boolean { return NETWORK_FS.test(fsType); }

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
    await unmountStubborn(this.runner, path);
  }
}
