// The common node path for every pool type, after the transport made the volume reachable:
//   stage:   directory → bind onto staging; device+filesystem → (mkfs) + mount on staging;
//            device+block → nothing to stage
//   publish: filesystem → bind staging onto target (ro, options); block → bind the device
//            node onto a file at target
import { mkdir, open, rm, rmdir } from 'node:fs/promises';
import type { Runner } from '../exec/index.js';
import { detectFilesystem, growFilesystem, makeFilesystem } from './filesystem.js';
import { Mounter } from './mount.js';
import { mountAt, readMounts } from './mountinfo.js';
import { existingKind, PathError } from './paths.js';
import { deviceNumbers } from './stats.js';

/** Where a volume's data is on this node (the backends' Attachment has the same shape). */
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
}

export interface PublishRequest {
  attachment: Attachment;
  stagingPath: string;
  targetPath: string;
  mode: 'filesystem' | 'block';
  readonly: boolean;
  mountOptions: string[];
}

export class Staging {
  readonly mounter: Mounter;

  constructor(private readonly runner: Runner) {
    this.mounter = new Mounter(runner);
  }

  async stage(r: StageRequest): Promise<void> {
    if (r.mode === 'block') return;
    const kind = await existingKind(r.stagingPath, 'staging_target_path');
    if (kind === undefined) await mkdir(r.stagingPath, { recursive: true, mode: 0o750 });
    else if (kind !== 'dir') throw new PathError(`staging_target_path ${r.stagingPath} exists and is not a directory`);
    const current = await this.mounter.at(r.stagingPath);
    if (current) {
      if (await this.sameSource(current, r.attachment)) return;
      throw new StagingError('exists', `staging_target_path ${r.stagingPath} already has another mount (${current.source})`);
    }
    if (r.attachment.kind === 'directory') {
      await this.mounter.bind(r.attachment.path, r.stagingPath, r.mountOptions);
      return;
    }
    const device = r.attachment.path;
    const found = await detectFilesystem(this.runner, device);
    const fsType = r.fsType || found || 'ext4';
    if (!found) await makeFilesystem(this.runner, fsType, device, r.mkfsOptions);
    else if (r.fsType && found !== r.fsType) {
      throw new StagingError('precondition', `device ${device} holds ${found}, not the requested ${r.fsType}; refusing to format it`);
    }
    await this.mounter.mount(device, r.stagingPath, fsType, r.mountOptions);
    // A volume restored or cloned into a bigger size has a filesystem smaller than its device.
    await growFilesystem(this.runner, fsType, device, r.stagingPath).catch(() => undefined);
  }

  private async sameSource(m: { source: string; root: string; majorMinor: string }, a: Attachment): Promise<boolean> {
    // mount(8) canonicalizes device paths (/dev/dm-3 shows as /dev/mapper/vg-lv): compare the
    // device numbers, which mountinfo gives for every block-backed filesystem.
    if (a.kind === 'device') return m.source === a.path || m.majorMinor === (await deviceNumbers(a.path));
    // A directory that is itself a mount (an NFS transport's): the bind shows that mount's
    // filesystem and root.
    const own = mountAt(await readMounts(), a.path);
    if (own) return own.majorMinor === m.majorMinor && own.root === m.root;
    // A bind of a directory shows the filesystem's device as source and the directory as root.
    return a.path.endsWith(m.root) || m.root === a.path;
  }

  async unstage(stagingPath: string): Promise<void> {
    await this.mounter.unmount(stagingPath);
  }

  async publish(r: PublishRequest): Promise<void> {
    const kind = await existingKind(r.targetPath, 'target_path');
    if (r.mode === 'block') {
      if (r.attachment.kind !== 'device') throw new StagingError('precondition', 'block access needs a block device');
      if (kind === undefined) await (await open(r.targetPath, 'a', 0o640)).close();
      else if (kind === 'dir') throw new PathError(`target_path ${r.targetPath} is a directory; block volumes publish onto a file`);
      if (await this.mounter.isMounted(r.targetPath)) return;
      await this.mounter.bind(r.attachment.path, r.targetPath, r.readonly ? ['ro'] : []);
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
    const options = [...r.mountOptions, ...(r.readonly ? ['ro'] : [])];
    await this.mounter.bind(r.stagingPath, r.targetPath, options);
  }

  async unpublish(targetPath: string): Promise<void> {
    // Unmount before looking at the path: stat() on a dead NFS server's mount never returns.
    await this.mounter.unmount(targetPath);
    const kind = await existingKind(targetPath, 'target_path');
    if (kind === undefined) return;
    // Never a recursive delete: a directory with content left after unmount is kept and reported.
    if (kind === 'dir') await rmdir(targetPath);
    else await rm(targetPath, { force: true });
  }

  /** After a controller expand: grow the filesystem at `path`. */
  async expand(path: string): Promise<void> {
    const m = await this.mounter.at(path);
    if (!m) throw new PathError(`volume_path ${path} is not a mount point`);
    if (m.source.startsWith('/dev/')) await growFilesystem(this.runner, m.fsType, m.source, path);
  }
}
