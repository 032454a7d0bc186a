// Read-only block publishes. A read-only bind mount of a device node does not stop writes
// (the mount flag does not apply to opening a device), so a read-only publish of a device the
// transport attached read-write gets its own read-only loop device over it (losetup
// --read-only), bind-mounted at the target. The kernel keeps the state: the loop device is
// found again from the target (its device numbers → sysfs), so it survives a plugin restart.
import { readFile, realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Runner } from '../exec/index.js';
import { NodeError } from './errors.js';
import { readMounts } from './mountinfo.js';
import { deviceNumbers } from './stats.js';

const LOSETUP_TIMEOUT = 60_000;

export interface LoopInfo { device: string; backingFile: string; readonly: boolean }

/** The loop device behind a block device node (a target bind or /dev/loopN), if it is one. */
export async function loopOf(path: string, sysfs = '/sys'): Promise<LoopInfo | undefined> {
  const nums = await deviceNumbers(path);
  if (!nums) return undefined;
  const dir = `${sysfs}/dev/block/${nums}`;
  const backing = await readFile(`${dir}/loop/backing_file`, 'utf8').catch(() => undefined);
  if (backing === undefined) return undefined;
  const name = basename(await realpath(dir));
  if (!/^loop[0-9]+$/.test(name)) return undefined;
  const ro = (await readFile(`${dir}/ro`, 'utf8').catch(() => '0')).trim() === '1';
  return { device: `/dev/${name}`, backingFile: backing.trim(), readonly: ro };
}

/** A new read-only loop device over `device`. */
export async function readonlyLoop(runner: Runner, device: string): Promise<string> {
  const r = await runner.run('losetup', ['--read-only', '--find', '--show', '--', device], { timeoutMs: LOSETUP_TIMEOUT });
  const loop = r.stdout.trim().split('\n').pop() ?? '';
  if (!/^\/dev\/loop[0-9]+$/.test(loop)) throw new NodeError('internal', `losetup printed "${loop.slice(0, 80)}", not a loop device`);
  return loop;
}

/** Detaches a read-only loop device poolcsi made, unless another mount still shows it. */
export async function releaseLoop(runner: Runner, loop: LoopInfo): Promise<void> {
  // Only the read-only loops poolcsi makes: over a device node, read-only.
  if (!loop.readonly || !loop.backingFile.startsWith('/dev/')) return;
  const name = loop.device.slice('/dev/'.length);
  // A device node bind-mounted elsewhere shows as the devtmpfs root "/loopN".
  const used = (await readMounts()).some((m) => m.root === `/${name}`);
  if (used) return;
  try {
    await runner.run('losetup', ['--detach', loop.device], { timeoutMs: LOSETUP_TIMEOUT });
  } catch (e) {
    // Already gone (a concurrent unpublish, autoclear): nothing left to release.
    if ((await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => undefined)) === undefined) return;
    throw e;
  }
}
