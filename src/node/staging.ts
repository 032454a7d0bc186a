// The common node path for every pool type, after the transport made the volume reachable:
//   stage:   directory → bind onto <staging>/mount; device+filesystem → (mkfs) + mount on
//            <staging>/mount; device+block → nothing to mount
//   publish: filesystem → bind <staging>/mount onto target (ro, options); block → bind the
//            device node (or a read-only loop device over it, readonly.ts) onto a file at target
// The staging directory itself holds the stash (stash.ts) and is never a mount point.
import { lstat, mkdir, open, rm, rmdir } from 'node:fs/promises';
import { ExecError, type Runner } from '../exec/index.js';
import { detectFilesystem, growFilesystem, makeFilesystem } from './filesystem.js';
import { isNetworkFs, Mounter } from './mount.js';
import { enclosingVolume, mountsBelow } from './nesting.js';
import { existingKind, PathError } from './paths.js';
import { loopOf, readonlyLoop, releaseLoop } from './readonly.js';
import { mountDir } from './stash.js';
import { readMounts } from '../sys/mountinfo.js';
import { deviceNumbers } from '../sys/stats.js';

/** Where the transport made the volume reachable. */
export type Attachment = { kind: 'directory'; path: string } | { kind: 'device'; path: string };

export class StagingError extends Error {
  constructor(readonly kind: 'exists' | 'precondition', message: string) { super(message); this.name = 'StagingError'; }
}

export interface StageRequest {
  attachment: Attachment;
  stagingPath: string;
  mode: 'filesystem' | 'block';
  fsType: string;
  mkfsOptions: string;
  mountOptions: string[];
  /** The device is read-only (mount it ro; never format it). */
  readonly: boolean;
}

export interface PublishRequest {
  attachment: Attachment;
  stagingPath: string;
  targetPath: string;
  mode: 'filesystem' | 'block';
  readonly: boolean;
  /** The attached device is read-only itself: no per-publish read-only device needed. */
  deviceReadonly: boolean;
  mountOptions: string[];
}

export class Staging {
  readonly mounter: Mounter;

  constructor(private readonly runner: Runner) {
    this.mounter = new Mounter(runner);
  }

  /** Makes the staging directory (it holds the stash even for block volumes). */
  async prepare(stagingPath: string): Promise<void> {
    await this.refuseNested(stagingPath, 'staging_target_path');
    const kind = await existingKind(stagingPath, 'staging_target_path');
    if (kind === undefined) await mkdir(stagingPath, { recursive: true, mode: 0o750 });
    else if (kind !== 'dir') throw new PathError(`staging_target_path ${stagingPath} exists and is not a directory`);
    if (await this.mounter.isMounted(stagingPath)) {
      throw new StagingError('exists', `staging_target_path ${stagingPath} is itself a mount point (staged by an older poolcsi?); unstage it first`);
    }
  }

  async stage(r: StageRequest): Promise<void> {
    if (r.mode === 'block') return;
    const target = mountDir(r.stagingPath);
    const kind = await existingKind(target, 'staging mount directory');
    if (kind === undefined) await mkdir(target, { mode: 0o750 });
    else if (kind !== 'dir') throw new PathError(`${target} exists and is not a directory`);
    const current = await this.mounter.at(target);
    if (current) {
      if (await this.sameSource(current, r.attachment)) return;
      throw new StagingError('exists', `staging_target_path ${r.stagingPath} already has another volume mounted (${current.source})`);
    }
    await this.refuseMountsBelow(target, 'stage a volume over them');
    const options = [...r.mountOptions, ...(r.readonly && !r.mountOptions.includes('ro') ? ['ro'] : [])];
    if (r.attachment.kind === 'directory') {
      await this.mounter.bind(r.attachment.path, target, options);
      return;
    }
    const device = r.attachment.path;
    const found = await detectFilesystem(this.runner, device);
    const fsType = r.fsType || found || 'ext4';
    if (!found) {
      if (r.readonly) throw new StagingError('precondition', `device ${device} is blank and attached read-only: a reader-only volume cannot be formatted`);
      await makeFilesystem(this.runner, fsType, device, r.mkfsOptions);
    } else if (r.fsType && found !== r.fsType) {
      throw new StagingError('precondition', `device ${device} holds ${found}, not the requested ${r.fsType}; refusing to format it`);
    }
    await this.mounter.mount(device, target, fsType, options);
    // A volume restored or cloned into a bigger size has a filesystem smaller than its device;
    // one made just now fills it already (one program less on every first stage).
    if (found && !r.readonly) await growFilesystem(this.runner, fsType, device, target).catch(() => undefined);
  }

  private async sameSource(m: { source: string; root: string; majorMinor: string }, a: Attachment): Promise<boolean> {
    // mount(8) canonicalizes device paths (/dev/dm-3 shows as /dev/mapper/vg-lv): compare the
    // device numbers, which mountinfo gives for every block-backed filesystem.
    if (a.kind === 'device') return m.source === a.path || m.majorMinor === (await deviceNumbers(a.path));
    // A directory that is itself a mount (an NFS transport's): the bind shows that mount's
    // filesystem and root.
    const own = await this.mounter.at(a.path);
    if (own) return own.majorMinor === m.majorMinor && own.root === m.root;
    // A bind of a directory shows the filesystem's device as source and the directory as root.
    return a.path.endsWith(m.root) || m.root === a.path;
  }

  /** Unmounts <staging>/mount (and a staging path an older poolcsi mounted directly). */
  async unstage(stagingPath: string): Promise<void> {
    const target = mountDir(stagingPath);
    await this.refuseMountsBelow(target, 'unstage the volume');
    await this.unmountOrBusy(target);
    if ((await existingKind(target, 'staging mount directory')) === 'dir') await removeEmptyDir(target);
    await this.unmountOrBusy(stagingPath);
  }

  /** Refuses a path inside another volume's filesystem or staging directory (nesting.ts). */
  private async refuseNested(path: string, field: string): Promise<void> {
    const outer = await enclosingVolume(await readMounts(), path);
    if (outer) throw new StagingError('precondition', `${field} ${path} lies inside ${outer}; a volume is never staged or published inside another`);
  }

  /** A mount below `path` would keep it busy, or be hidden under a new mount: refused, nothing unmounted. */
  private async refuseMountsBelow(path: string, action: string): Promise<void> {
    const below = mountsBelow(await readMounts(), path);
    if (below.length) {
      throw new StagingError('precondition', `${below.length} mount(s) below ${path} (${below.slice(0, 3).map((m) => m.mountPoint).join(', ')}); unmount them before asking to ${action}`);
    }
  }

  /** A local filesystem still in use is the caller's to release: FAILED_PRECONDITION, never a lazy unmount. */
  private async unmountOrBusy(path: string): Promise<void> {
    try {
      await this.mounter.unmount(path);
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit' && e.mentions('busy')) {
        throw new StagingError('precondition', `${path} is busy (a process still uses it, or a mount is below it); nothing was unmounted: ${e.message}`);
      }
      throw e;
    }
  }

  async publish(r: PublishRequest): Promise<void> {
    await this.refuseNested(r.targetPath, 'target_path');
    const kind = await existingKind(r.targetPath, 'target_path');
    if (r.mode === 'block') {
      if (r.attachment.kind !== 'device') throw new StagingError('precondition', 'block access needs a block device');
      if (kind === undefined) await (await open(r.targetPath, 'a', 0o640)).close();
      else if (kind === 'dir') throw new PathError(`target_path ${r.targetPath} is a directory; block volumes publish onto a file`);
      const current = await this.mounter.at(r.targetPath);
      if (current) {
        const ro = (await loopOf(r.targetPath))?.readonly === true || r.deviceReadonly;
        if (ro !== r.readonly) throw new StagingError('exists', `target_path ${r.targetPath} is already published ${ro ? 'read-only' : 'read-write'}`);
        return;
      }
      if (!r.readonly || r.deviceReadonly) {
        await this.mounter.bind(r.attachment.path, r.targetPath, r.readonly ? ['ro'] : []);
        return;
      }
      const loop = await readonlyLoop(this.runner, r.attachment.path);
      try {
        await this.mounter.bind(loop, r.targetPath, ['ro']);
      } catch (e) {
        await this.runner.run('losetup', ['--detach', loop], { timeoutMs: 60_000 }).catch(() => undefined);
        throw e;
      }
      return;
    }
    if (kind === undefined) await mkdir(r.targetPath, { recursive: true, mode: 0o750 });
    else if (kind === 'file') throw new PathError(`target_path ${r.targetPath} is a file; filesystem volumes publish onto a directory`);
    const current = await this.mounter.at(r.targetPath);
    if (current) {
      const ro = current.options.includes('ro');
      if (ro !== r.readonly) throw new StagingError('exists', `target_path ${r.targetPath} is already published ${ro ? 'read-only' : 'read-write'}`);
      return;
    }
    await this.refuseMountsBelow(r.targetPath, 'publish a volume over them');
    const options = [...r.mountOptions, ...(r.readonly ? ['ro'] : [])];
    await this.mounter.bind(mountDir(r.stagingPath), r.targetPath, options);
  }

  async unpublish(targetPath: string): Promise<void> {
    // stat() on the mount of a dead NFS server never returns: such a target is unmounted
    // before the path is looked at.
    const mount = await this.mounter.at(targetPath);
    if (mount && isNetworkFs(mount.fsType)) await this.mounter.unmount(targetPath);
    const kind = await existingKind(targetPath, 'target_path');
    if (kind === undefined) return;
    await this.refuseMountsBelow(targetPath, 'unpublish the volume');
    // A read-only block publish has its own loop device: released once unmounted.
    // (A device bind-mounted over the target file shows as the device itself: kind 'other'.)
    const loop = kind !== 'dir' && (await this.mounter.isMounted(targetPath)) ? await loopOf(targetPath) : undefined;
    await this.unmountOrBusy(targetPath);
    if (loop) await releaseLoop(this.runner, loop);
    // A path inside another volume is that volume's data, not a target this node made: with
    // nothing mounted there any more, the volume is not published there; the path stays.
    if (await enclosingVolume(await readMounts(), targetPath)) return;
    // Never a recursive delete: a directory with content left after unmount is kept and reported.
    if (kind === 'dir') await removeEmptyDir(targetPath);
    else await removeTargetFile(targetPath);
  }

  /** After a controller expand: grow the filesystem staged at <staging>/mount on `device`. */
  async expand(stagingPath: string, device: string): Promise<void> {
    const path = mountDir(stagingPath);
    const m = await this.mounter.at(path);
    if (!m) throw new PathError(`${path} is not a mount point: the volume is not staged there`);
    await growFilesystem(this.runner, m.fsType, device, path);
  }
}

/** rmdir, with a directory that is not empty or not removable reported as the caller's to clear. */
async function removeEmptyDir(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY' || code === 'EROFS' || code === 'EPERM' || code === 'EACCES') {
      throw new StagingError('precondition', `${path} cannot be removed (${code}); it is kept as it is`);
    }
    throw e;
  }
}

/**
 * A block target is the empty file NodePublish made; a file with content was not made by this
 * node (or holds someone's data) and is kept.
 */
async function removeTargetFile(path: string): Promise<void> {
  const s = await lstat(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : e));
  if (s === undefined) return;
  // A stale mount gone, a directory showed up beneath it.
  if (!(s instanceof Error) && s.isDirectory()) return removeEmptyDir(path);
  if (!(s instanceof Error) && s.isFile() && s.size > 0) {
    throw new StagingError('precondition', `target_path ${path} is a file with ${s.size} bytes in it, not the empty file a block publish makes; it is kept`);
  }
  try {
    await rm(path, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EPERM' || code === 'EACCES' || code === 'EBUSY') throw new StagingError('precondition', `${path} cannot be removed (${code}); it is kept as it is`);
    throw e;
  }
}
