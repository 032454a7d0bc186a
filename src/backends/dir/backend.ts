// The `dir` pool: a filesystem volume is a subdirectory of the pool's path on its node.
//   <path>/volumes/<name>/            data          <path>/volumes/<name>.json      state
//   <path>/snapshots/<vol>@<snap>/    snapshot data  <path>/snapshots/<vol>@<snap>.json
// Snapshots and clones are `cp -a --reflink=auto` copies: instant on btrfs/xfs-reflink, full
// copies elsewhere. State files carry a "complete" marker so a crashed create is redone.
import { mkdir, rm, readdir, statfs, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DirPool } from '../../pools/schema.js';
import type { Runner } from '../../exec/index.js';
import { exhausted, notFound, outOfRange, StorageError } from '../errors.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { readState, removeState, writeState } from '../statefile.js';
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

interface DirVolumeState extends VolumeRecord { projectId?: number }

export class DirBackend implements Backend {
  readonly traits = dirTraits;
  private quota?: Promise<QuotaSupport>;

  constructor(readonly pool: DirPool, private readonly runner: Runner, private readonly nodeId: string) {}

  private volDir(name: string) { return volumeDataDir(this.pool, name); }
  private volState(name: string) { return join(this.pool.path, 'volumes', `${name}.json`); }
  private snapDir(vol: string, snap: string) { return join(this.pool.path, 'snapshots', `${vol}@${snap}`); }
  private snapState(vol: string, snap: string) { return join(this.pool.path, 'snapshots', `${vol}@${snap}.json`); }

  private async ensureLayout(): Promise<void> {
    try {
      const s = await stat(this.pool.path);
      if (!s.isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new StorageError('unavailable', `pool "${this.pool.id}": path ${this.pool.path} is not a usable directory on node ${this.nodeId} (${(e as Error).message})`);
    }
    await mkdir(join(this.pool.path, 'volumes'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.pool.path, 'snapshots'), { recursive: true, mode: 0o700 });
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
    const existing = await readState<DirVolumeState>(file);
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
      ...(spec.source ? { source: spec.source } : {}),
      ...(spec.pvc ? { pvc: spec.pvc } : {}),
      ...(q.kind !== 'none' ? { projectId: projectId(this.pool.id, spec.name) } : {}),
    };
    await writeState(file, state);
    const dir = this.volDir(spec.name);
    if (sourceDir) {
      await this.copyTree(sourceDir, dir);
    } else {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: 0o2777 });
    }
    await this.limit(state);
    state.complete = true;
    await writeState(file, state);
    return state;
  }

  async deleteVolume(name: string): Promise<void> {
    const file = this.volState(name);
    const state = await readState<DirVolumeState>(file);
    if (!state) return;
    await writeState(file, { ...state, complete: false });
    await rm(this.volDir(name), { recursive: true, force: true });
    await removeState(file);
  }

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    const s = await readState<DirVolumeState>(this.volState(name));
    return s?.complete ? s : undefined;
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return (await this.readAll<DirVolumeState>('volumes')).filter((v) => v.complete);
  }

  async expandVolume(name: string, sizeBytes: number): Promise<VolumeRecord> {
    const file = this.volState(name);
    const state = await readState<DirVolumeState>(file);
    if (!state?.complete) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    if (sizeBytes <= state.sizeBytes) return state;
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
    const existing = await readState<SnapshotRecord>(file);
    if (existing?.ready) return existing;
    const vol = await this.getVolume(volume);
    if (!vol) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}"`);
    const snap: SnapshotRecord = {
      volume, name, requestName, sizeBytes: vol.sizeBytes, createdAt: existing?.createdAt ?? new Date().toISOString(), ready: false,
    };
    await writeState(file, snap);
    await this.copyTree(this.volDir(volume), this.snapDir(volume, name));
    snap.ready = true;
    await writeState(file, snap);
    return snap;
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    const file = this.snapState(volume, name);
    const snap = await readState<SnapshotRecord>(file);
    if (!snap) return;
    await writeState(file, { ...snap, ready: false });
    await rm(this.snapDir(volume, name), { recursive: true, force: true });
    await removeState(file);
  }

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    const s = await readState<SnapshotRecord>(this.snapState(volume, name));
    return s?.ready ? s : undefined;
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return (await this.readAll<SnapshotRecord>('snapshots')).filter((s) => s.ready);
  }

  private async readAll<T>(sub: 'volumes' | 'snapshots'): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(join(this.pool.path, sub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const states = await Promise.all(
      names.filter((n) => n.endsWith('.json')).map((n) => readState<T>(join(this.pool.path, sub, n))),
    );
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
    const file = this.volState(name);
    const state = await readState<DirVolumeState>(file);
    if (!state?.complete) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    recordPublish(state, node, opts);
    await writeState(file, state);
    return {};
  }

  async unpublish(name: string, node?: string): Promise<void> {
    const file = this.volState(name);
    const state = await readState<DirVolumeState>(file);
    if (!state?.complete || !state.published) return;
    if (node === undefined) delete state.published;
    else delete state.published[node];
    await writeState(file, state);
  }

  nodeContext(rec: VolumeRecord): NodeContext {
    return dirNodeContext(this.pool, rec.name);
  }
}
