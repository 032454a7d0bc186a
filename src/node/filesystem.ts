// Filesystems on block devices: detect, make, grow. The node never formats a device that
// already holds a filesystem or any other signature (blkid -p reads the device itself).
import type { Runner } from '../exec/index.js';
import { ExecError } from '../exec/index.js';

export const SUPPORTED_FS = ['ext4', 'xfs', 'btrfs'] as const;

/** The signature on a device ("ext4", "LVM2_member"...) or undefined when it is blank. */
export async function detectFilesystem(runner: Runner, device: string): Promise<string | undefined> {
  try {
    const r = await runner.run('blkid', ['-p', '-o', 'export', '--', device], { timeoutMs: 30_000 });
    const m = /^TYPE=(.+)$/m.exec(r.stdout);
    if (m) return m[1]!.trim();
    const ptt = /^PTTYPE=(.+)$/m.exec(r.stdout);
    return ptt ? `partition table ${ptt[1]!.trim()}` : undefined;
  } catch (e) {
    // blkid exits 2 when it finds nothing.
    if (e instanceof ExecError && e.exitCode === 2) return undefined;
    throw e;
  }
}

export function mkfsArgs(fsType: string, device: string, extra: string): { program: string; args: string[] } {
  const opts = extra.split(/\s+/).filter(Boolean);
  for (const o of opts) if (!/^[A-Za-z0-9_.,=:+\-^/]+$/.test(o)) throw new Error(`mkfsOptions: "${o}" is not a plain option`);
  switch (fsType) {
    case 'ext4': return { program: 'mkfs.ext4', args: ['-F', '-q', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', ...opts, '--', device] };
    case 'xfs': return { program: 'mkfs.xfs', args: ['-q', '-K', ...opts, '--', device] };
    case 'btrfs': return { program: 'mkfs.btrfs', args: ['-q', ...opts, '--', device] };
    default: throw new Error(`filesystem type "${fsType}" is not supported (${SUPPORTED_FS.join(', ')})`);
  }
}

export async function makeFilesystem(runner: Runner, fsType: string, device: string, extra = ''): Promise<void> {
  const { program, args } = mkfsArgs(fsType, device, extra);
  await runner.run(program, args, { timeoutMs: 10 * 60_000 });
}

/** Grows the filesystem mounted at `mountPoint` on `device` to fill the device. */
export async function growFilesystem(runner: Runner, fsType: string, device: string, mountPoint: string): Promise<void> {
  if (fsType === 'ext4') await runner.run('resize2fs', ['--', device], { timeoutMs: 10 * 60_000 });
  else if (fsType === 'xfs') await runner.run('xfs_growfs', ['--', mountPoint], { timeoutMs: 10 * 60_000 });
  else if (fsType === 'btrfs') await runner.run('btrfs', ['filesystem', 'resize', 'max', '--', mountPoint], { timeoutMs: 10 * 60_000 });
  else throw new Error(`cannot grow filesystem type "${fsType}"`);
}
