// RBD image operations in one pool, as typed calls over CephCli (one method, one rbd run).
// "Absent" answers (no such image or snapshot) come back as undefined/false, not errors.
import { StorageError } from '../errors.js';
import type { CephCli, RunOpts } from './cli.js';
import {
  parseDf, parseInfo, parseLs, parseMeta, parseSnaps, parseTrash,
  type ImageInfo, type LsEntry, type PoolUsage, type SnapEntry, type TrashEntry,
} from './report.js';

const JSON_OUT = ['--format', 'json'];
/** Long-running data operations (rm, flatten) get hours, not the quick deadline. */
const LONG_MS = 6 * 3600_000;

async function absentIsUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof StorageError && e.kind === 'not-found') return undefined;
    throw e;
  }
}

export interface NewImage { size: number; features: readonly string[]; dataPool?: string | undefined }

export class Images {
  constructor(readonly cli: CephCli) {}

  get pool(): string { return this.cli.pool.pool; }
  spec(image: string, snap?: string): string { return `${this.pool}/${image}${snap !== undefined ? `@${snap}` : ''}`; }

  private layout(n: NewImage): string[] {
    return ['--image-feature', n.features.join(','), ...(n.dataPool ? ['--data-pool', n.dataPool] : [])];
  }

  info(image: string): Promise<ImageInfo | undefined> {
    return absentIsUndefined(this.cli.read(['info', this.spec(image), ...JSON_OUT]).then(parseInfo));
  }

  /** Info of an image by id (works for images in the trash). */
  infoById(id: string): Promise<ImageInfo | undefined> {
    return absentIsUndefined(this.cli.read(['info', '--pool', this.pool, '--image-id', id, ...JSON_OUT]).then(parseInfo));
  }

  meta(image: string): Promise<Record<string, string> | undefined> {
    return absentIsUndefined(this.cli.read(['image-meta', 'list', this.spec(image), ...JSON_OUT]).then(parseMeta));
  }

  async setMeta(image: string, key: string, value: string): Promise<void> {
    await this.cli.rbd(['image-meta', 'set', this.spec(image), key, value]);
  }

  async removeMeta(image: string, key: string): Promise<void> {
    await absentIsUndefined(this.cli.rbd(['image-meta', 'remove', this.spec(image), key]));
  }

  /** False when the image already exists. */
  async create(image: string, n: NewImage): Promise<boolean> {
    try {
      await this.cli.rbd(['create', this.spec(image), '--size', `${n.size}B`, ...this.layout(n)]);
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.kind === 'exists') return false;
      throw e;
    }
  }

  /** A clone v2 child (no snapshot protection; a removed parent snapshot waits in the trash). */
  async clone(parent: string, snap: string, image: string, n: Omit<NewImage, 'size'>): Promise<boolean> {
    try {
      await this.cli.rbd(['clone', '--rbd-default-clone-format', '2', this.spec(parent, snap), this.spec(image), ...this.layout({ ...n, size: 0 })]);
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.kind === 'exists') return false;
      throw e;
    }
  }

  async resize(image: string, size: number): Promise<void> {
    await this.cli.rbd(['resize', this.spec(image), '--size', `${size}B`, '--no-progress'], { timeoutMs: LONG_MS });
  }

  async featureDisable(image: string, features: string[]): Promise<void> {
    await this.cli.rbd(['feature', 'disable', this.spec(image), ...features]);
  }

  /** Snapshots of an image (all namespaces), or undefined when the image does not exist. */
  snaps(image: string): Promise<SnapEntry[] | undefined> {
    return absentIsUndefined(this.cli.read(['snap', 'ls', '--all', this.spec(image), ...JSON_OUT]).then(parseSnaps));
  }

  snapsById(id: string): Promise<SnapEntry[] | undefined> {
    return absentIsUndefined(this.cli.read(['snap', 'ls', '--all', '--pool', this.pool, '--image-id', id, ...JSON_OUT]).then(parseSnaps));
  }

  /** False when it already existed. */
  async snapCreate(image: string, snap: string): Promise<boolean> {
    try {
      await this.cli.rbd(['snap', 'create', this.spec(image, snap), '--no-progress']);
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.kind === 'exists') return false;
      throw e;
    }
  }

  /** Removes a snapshot; with clones it moves to the snapshot trash until they are gone. */
  async snapRemove(image: string, snap: string): Promise<void> {
    await absentIsUndefined(this.cli.rbd(['snap', 'rm', this.spec(image, snap), '--no-progress']));
  }

  /** `rbd rm`. 'has-clones': clone v2 children still read removed snapshots of it. */
  async remove(image: string): Promise<'removed' | 'absent' | 'has-clones'> {
    try {
      await this.cli.rbd(['rm', this.spec(image), '--no-progress'], { timeoutMs: LONG_MS });
      return 'removed';
    } catch (e) {
      if (!(e instanceof StorageError)) throw e;
      if (e.kind === 'not-found') return 'absent';
      if (e.message.includes('linked clones')) return 'has-clones';
      if (e.message.includes('watchers')) {
        throw new StorageError('precondition', `image ${this.spec(image)} is still in use (mapped or open on some node): ${e.message}`);
      }
      throw e;
    }
  }

  async trashMove(image: string): Promise<void> {
    await absentIsUndefined(this.cli.rbd(['trash', 'mv', this.spec(image)]));
  }

  trashList(): Promise<TrashEntry[]> {
    return this.cli.read(['trash', 'ls', '--long', this.pool, ...JSON_OUT]).then(parseTrash);
  }

  /** False when the image still has snapshots (its clones' parents). */
  async trashRemove(id: string): Promise<boolean> {
    try {
      await this.cli.rbd(['trash', 'rm', '--pool', this.pool, '--image-id', id, '--no-progress'], { timeoutMs: LONG_MS });
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.kind === 'not-found') return true;
      if (e instanceof StorageError && e.kind === 'precondition') return false;
      throw e;
    }
  }

  list(): Promise<LsEntry[]> {
    return this.cli.read(['ls', '-l', this.pool, ...JSON_OUT], { timeoutMs: this.cli.quickMs * 4 }).then(parseLs);
  }

  async flatten(image: string, opts: RunOpts = {}): Promise<void> {
    await this.cli.rbd(['flatten', this.spec(image), '--no-progress'], { timeoutMs: LONG_MS, ...opts });
  }

  async usage(): Promise<PoolUsage[]> {
    return parseDf(await this.cli.ceph(['df', ...JSON_OUT]));
  }
}
