// The `dir` pool: a filesystem volume is a subdirectory of the pool's path on its node.
//   <path>/volumes/<name>/data/              volume data     <path>/volumes/<name>/state.json
//   <path>/snapshots/<vol>@<snap>/data/      snapshot data   <path>/snapshots/<vol>@<snap>/state.json
// Each object owns one directory named after it; data and state are fixed names inside it, so
// no volume or snapshot name (no "/", pools/ids.ts) can reach another object's data or state.
// Snapshots and clones are `cp -a --reflink=auto` copies: instant on btrfs/xfs-reflink, full
// copies elsewhere. A crash leaves a state file saying how far the object got: "complete"/"ready"
// false while a create is half done (the retry finishes it, a delete removes it), "deleting"
// once a delete started (every later call finishes the delete first).
import { chmod, mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { DirPool } from '../../pools/schema.js';
import type { Runner } from '../../exec/index.js';
import { checkGrowLimit, exhausted, exists, notFound, outOfRange, StorageError } from '../errors.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { readState, readStateForUpdate, removeState, sweepTemps, writeState } from '../statefile.js';
import type {
  Backend, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { dirNodeContext, volumeDataDir } from './context.js';
import { applyQuota, detectQuota, projectId, type QuotaSupport } from './quota.js';

export const dirTraits: TypeTraits = {
  local: true,
  modes: ['filesystem'],
  snapshots: true,
  clones: true,
  expand: true,
  makesFilesystem: false,
  nodeExpand: false,
  multiNode: { filesystem: false, block: false },
  params: [],
};

/**
 * Mode of a new volume's data directory: writable by any uid, so pods running as non-root
 * without fsGroup can write (a volume is reached only through its bind mount: the pool's
 * `volumes/` is 0700). Set with chmod after mkdir, since mkdir's mode is cut by the umask.
 */
export const VOLUME_DIR_MODE = 0o777;
/** A `*.tmp` state file older than this is a crash leftover (a live write takes milliseconds). */
const STALE_TMP_MS = 10 * 60_000;

interface DirVolumeState extends VolumeRecord {
  projectId?: number;
  /** Identity of this incarnation of the volume: a re-created volume of the same name gets a new one. */
  uid?: string;
  deleting?: boolean;
}

interface DirSnapshotState extends SnapshotRecord {
  /** uid of the volume incarnation the snapshot was taken of. */
  volumeUid?: string;
  deleting?: boolean;
}

type Area = 'volumes' | 'snapshots';

export class DirBackend implements Backend {
  readonly traits = dirTraits;
  private quota?: Promise<QuotaSupport>;
  private swept = false;

  constructor(readonly pool: DirPool, private readonly runner: Runner, private readonly nodeId: string) {}

  private volHome(name: string) { return join(this.pool.path, 'volumes', name); }
  private volDir(name: string) { return volumeDataDir(this.pool, name); }
  private volState(name: string) { return join(this.volHome(name), 'state.json'); }
  private snapHome(vol: string, snap: string) { return join(this.pool.path, 'snapshots', `${vol}@${snap}`); }
  private snapDir(vol: string, snap: string) { return join(this.snapHome(vol, snap), 'data'); }
  private snapState(vol: string, snap: string) { return join(this.snapHome(vol, snap), 'state.json'); }

  private async ensureLayout(): Promise<void> {
    try {
      const s = await stat(this.pool.path);
      if (!s.isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new StorageError('unavailable', `pool "${this.pool.id}": path ${this.pool.path} is not a usable directory on node ${this.nodeId} (${(e as Error).message})`);
    }
    await mkdir(join(this.pool.path, 'volumes'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.pool.path, 'snapshots'), { recursive: true, mode: 0o700 });
    if (!this.swept) {
      this.swept = true;
      await this.sweepTmp();
    }
  }

  /** Removes state temp files that crashes left behind (writeState's `<file>.<hex>.tmp`). */
  private async sweepTmp(): Promise<void> {
    const now = Date.now();
    for (const area of ['volumes', 'snapshots'] as const) {
      for (const home of await this.homes(area)) {
        for (const f of await readdir(home).catch(() => [] as string[])) {
          if (!/^state\.json\.[0-9a-f]+\.tmp$/.test(f)) continue;
          const file = join(home, f);
          const s = await stat(file).catch(() => undefined);
          if (s && now - s.mtimeMs > STALE_TMP_MS) await rm(file, { force: true });
        }
      }
    }
  }

  /** The object directories of an area (entries that are not directories are not ours). */
  private async homes(area: Area): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(join(this.pool.path, area), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return entries.filter((e) => e.isDirectory()).map((e) => join(this.pool.path, area, e.name));
  }

  private quotaSupport(): Promise<QuotaSupport> {
    if (this.pool.quota === 'off') return Promise.resolve({ kind: 'none', mountPoint: '/', reason: 'quota: off in the pool definition' });
    this.quota ??= detectQuota(this.pool.path);
    return this.quota;
  }

  /** cp -a keeps owners, modes, xattrs, hard links and sparse files; reflink where the fs can. */
  private async copyTree(from: string, to: string): Promise<void> {
    await rm(to, { recursive: true, force: true });
    await this.runner.run('cp', ['-a', '--reflink=auto', '--', from, to], { timeoutMs: 30 * 60_000 });
  }

  private async limit(state: DirVolumeState): Promise<void> {
    const q = await this.quotaSupport();
    if (q.kind === 'none' || state.projectId === undefined) return;
    await applyQuota(this.runner, q, this.volDir(state.name), state.projectId, state.sizeBytes);
  }

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    await this.ensureLayout();
    const file = this.volState(spec.name);
    // A retry finishes what a killed call left, its temporary state copies included.
    let existing = await readStateForUpdate<DirVolumeState>(file);
    if (existing?.deleting) {
      // A delete of the same name was cut short: finish it, then create afresh.
      await this.deleteVolume(spec.name);
      existing = undefined;
    }
    if (existing?.complete) {
      checkCompatible(existing, spec);
      return existing;
    }
    let sourceDir: string | undefined;
    let sourceSize = 0;
    if (spec.source?.kind === 'snapshot') {
      const snap = await this.getSnapshot(spec.source.volume, spec.source.snapshot);
      if (!snap) throw notFound(`source snapshot ${spec.source.volume}@${spec.source.snapshot} does not exist in pool "${this.pool.id}"`);
      sourceDir = this.snapDir(snap.volume, snap.name);
      sourceSize = snap.sizeBytes;
    } else if (spec.source?.kind === 'volume') {
      const vol = await this.getVolume(spec.source.volume);
      if (!vol) throw notFound(`source volume ${spec.source.volume} does not exist in pool "${this.pool.id}"`);
      sourceDir = this.volDir(vol.name);
      sourceSize = vol.sizeBytes;
    }
    if (sourceDir && spec.sizeBytes < sourceSize) {
      throw outOfRange(`the source holds ${sourceSize} bytes; a volume made from it needs at least that`);
    }
    if (!existing) {
      const cap = await this.capacity();
      if (spec.sizeBytes > cap.availableBytes) {
        throw exhausted(`pool "${this.pool.id}" has ${cap.availableBytes} bytes free on node ${this.nodeId}; ${spec.sizeBytes} requested`);
      }
    }
    const q = await this.quotaSupport();
    const state: DirVolumeState = {
      name: spec.name,
      requestName: spec.requestName,
      sizeBytes: spec.sizeBytes,
      mode: 'filesystem',
      params: { ...spec.params },
      complete: false,
      node: this.nodeId,
      createdAt: existing?.createdAt ?? new Date().toISOString(),
      uid: existing?.uid ?? randomUUID(),
      ...(spec.source ? { source: spec.source } : {}),
      ...(spec.pvc ? { pvc: spec.pvc } : {}),
      ...(q.kind !== 'none' ? { projectId: projectId(this.pool.id, spec.name) } : {}),
    };
    // State first (the intent), then the data: data never exists without a state saying whose it is.
    await mkdir(this.volHome(spec.name), { recursive: true, mode: 0o700 });
    await writeState(file, state);
    const dir = this.volDir(spec.name);
    if (sourceDir) {
      await this.copyTree(sourceDir, dir);
    } else {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      await chmod(dir, VOLUME_DIR_MODE);
    }
    await this.limit(state);
    state.complete = true;
    await writeState(file, state);
    return state;
  }

  /** Marks an object deleting, removes its data, then its state, then its directory. */
  private async removeObject<T extends { deleting?: boolean }>(home: string, stateFile: string, mark: (s: T) => T): Promise<void> {
    const state = await readState<T>(stateFile).catch(() => undefined);
    if (!state && !(await stat(home).catch(() => undefined))) return;
    if (state && !state.deleting) await writeState(stateFile, { ...mark(state), deleting: true });
    await rm(join(home, 'data'), { recursive: true, force: true });
    await removeState(stateFile);
    await rm(home, { recursive: true, force: true });
  }

  async deleteVolume(name: string): Promise<void> {
    await this.removeObject<DirVolumeState>(this.volHome(name), this.volState(name), (s) => ({ ...s, complete: false }));
  }

  private async volumeState(name: string): Promise<DirVolumeState | undefined> {
    const s = await readState<DirVolumeState>(this.volState(name));
    return s?.complete && !s.deleting ? s : undefined;
  }

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    return this.volumeState(name);
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return (await this.readAll<DirVolumeState>('volumes')).filter((v) => v.complete && !v.deleting);
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    const file = this.volState(name);
    await sweepTemps(file);
    const state = await this.volumeState(name);
    if (!state) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    if (sizeBytes <= state.sizeBytes) return state;
    checkGrowLimit(name, sizeBytes, limitBytes);
    const cap = await this.capacity();
    if (sizeBytes - state.sizeBytes > cap.availableBytes) {
      throw exhausted(`pool "${this.pool.id}" has ${cap.availableBytes} bytes free; growing ${name} to ${sizeBytes} needs more`);
    }
    state.sizeBytes = sizeBytes;
    await this.limit(state);
    await writeState(file, state);
    return state;
  }

  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    await this.ensureLayout();
    const file = this.snapState(volume, name);
    let existing = await readStateForUpdate<DirSnapshotState>(file);
    if (existing?.deleting) {
      await this.deleteSnapshot(volume, name);
      existing = undefined;
    }
    const vol = await this.volumeState(volume);
    if (!vol) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}"`);
    // A snapshot of an earlier volume of the same name (deleted, then re-created) is not this one's.
    if (existing && (existing.volumeUid ?? '') !== (vol.uid ?? '')) {
      throw exists(`snapshot ${volume}@${name} already exists and was taken of an earlier volume named ${volume}, not of the current one`);
    }
    if (existing?.ready) return publicSnapshot(existing);
    const snap: DirSnapshotState = {
      volume, name, requestName, sizeBytes: vol.sizeBytes, createdAt: existing?.createdAt ?? new Date().toISOString(), ready: false,
      ...(vol.uid ? { volumeUid: vol.uid } : {}),
    };
    await mkdir(this.snapHome(volume, name), { recursive: true, mode: 0o700 });
    await writeState(file, snap);
    await this.copyTree(this.volDir(volume), this.snapDir(volume, name));
    snap.ready = true;
    await writeState(file, snap);
    return publicSnapshot(snap);
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    await this.removeObject<DirSnapshotState>(this.snapHome(volume, name), this.snapState(volume, name), (s) => ({ ...s, ready: false }));
  }

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    const s = await readState<DirSnapshotState>(this.snapState(volume, name));
    return s?.ready && !s.deleting ? publicSnapshot(s) : undefined;
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return (await this.readAll<DirSnapshotState>('snapshots')).filter((s) => s.ready && !s.deleting).map(publicSnapshot);
  }

  private async readAll<T>(area: Area): Promise<T[]> {
    const states = await Promise.all((await this.homes(area)).map((h) => readState<T>(join(h, 'state.json'))));
    return states.filter((s): s is Awaited<T> => s !== undefined) as T[];
  }

  async capacity(): Promise<Capacity> {
    let s;
    try {
      s = await statfs(this.pool.path);
    } catch (e) {
      throw new StorageError('unavailable', `pool "${this.pool.id}": cannot read ${this.pool.path} on node ${this.nodeId}: ${(e as Error).message}`);
    }
    const q = await this.quotaSupport();
    return {
      totalBytes: s.blocks * s.bsize,
      availableBytes: s.bavail * s.bsize,
      notes: q.kind === 'none' ? [q.reason] : [],
    };
  }

  async publish(name: string, node: string, opts: PublishOptions): Promise<Record<string, string>> {
    await sweepTemps(this.volState(name));
    const state = await this.volumeState(name);
    if (!state) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    recordPublish(state, node, opts);
    await writeState(this.volState(name), state);
    return {};
  }

  async unpublish(name: string, node?: string): Promise<void> {
    await sweepTemps(this.volState(name));
    const state = await this.volumeState(name);
    if (!state?.published) return;
    if (node === undefined) delete state.published;
    else delete state.published[node];
    await writeState(this.volState(name), state);
  }

  nodeContext(rec: VolumeRecord): NodeContext {
    return dirNodeContext(this.pool, rec.name);
  }
}

/** A snapshot record without the backend's bookkeeping. */
function publicSnapshot(s: DirSnapshotState): SnapshotRecord {
  return { volume: s.volume, name: s.name, requestName: s.requestName, sizeBytes: s.sizeBytes, createdAt: s.createdAt, ready: s.ready };
}
