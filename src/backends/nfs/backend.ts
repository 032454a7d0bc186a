// The `nfs` pool: a volume is a directory on an NFS export, served to any number of nodes.
// The controller works through its own cached mount of the export (exportmount.ts); the layout
// and reserved names are in layout.ts. Sizes are enforced only with a server agent whose quota
// is xfs-project (serveragent.ts: an XFS project per volume, EDQUOT at its size); otherwise they
// are recorded, and GetCapacity notes and the volume context (nfs.sizeEnforced=false) say so.
// Snapshots and clones are `cp --reflink=always` on the server with the agent (snapshots:
// reflink), else `cp -a --reflink=auto` through the mount: NFSv4.2 turns that into a
// server-side copy (copy_file_range) where the server can, others copy over the wire.
import { mkdir, readdir, rename, rm, stat, statfs, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NfsPool } from '../../pools/schema.js';
import type { Runner } from '../../exec/index.js';
import { NFS_MOUNT_ROOT, splitOptions } from '../../node/transports/nfs.js';
import { checkOption, checkSubdirTemplate } from '../../pools/nfs-grammar.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { notFound, outOfRange, StorageError, unavailable } from '../errors.js';
import { readState, readStateForUpdate, removeState, writeState } from '../statefile.js';
import type {
  Backend, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { nfsNodeContext } from './context.js';
import { ExportMount } from './exportmount.js';
import { projectIdFor, ServerAgent } from './serveragent.js';
import { ARCHIVE_DIR, archiveName, DEFAULT_SUBDIR, renderSubdir, STATE_DIR } from './layout.js';

/** Why block volumes are refused (capability checks quote it). */
export const NFS_BLOCK_REASON = 'an nfs pool serves directories on an NFS export; block volumes need a block transport (iscsi, rbd, lvm)';

export const nfsTraits: TypeTraits = {
  local: false,
  modes: ['filesystem'],
  snapshots: true,
  clones: true,
  expand: true,
  makesFilesystem: false,
  nodeExpand: false,
  multiNode: { filesystem: true, block: false },
  blockReason: NFS_BLOCK_REASON,
  params: ['subdir', 'onDelete'],
};

/** StorageClass values for the type's own parameters (names were checked by csi/params). */
function checkNfsParams(p: Readonly<Record<string, string>>): void {
  if (p.onDelete !== undefined && !['delete', 'retain', 'archive'].includes(p.onDelete)) {
    throw new StorageError('invalid', `parameter onDelete: "${p.onDelete}" is not delete, retain or archive`);
  }
  const bad = p.subdir !== undefined ? checkSubdirTemplate(p.subdir) : undefined;
  if (bad) throw new StorageError('invalid', `parameter ${bad}`);
  for (const o of splitOptions(p.mountOptions)) {
    try { checkOption(o); } catch (e) { throw new StorageError('invalid', `parameter mountOptions: ${(e as Error).message}`); }
  }
}

interface NfsVolumeState extends VolumeRecord {
  /** The volume's directory, relative to the export. */
  dir: string;
  /** Its XFS project (server agent with quota xfs-project), recorded before the tree is tagged. */
  projectId?: number;
}

/** What an export operation changes, for ExportMount.bounded's guard against overlapping retries. */
const volumeKey = (name: string) => `volume ${name}`;
const snapshotKey = (volume: string, name: string) => `snapshot ${volume}@${name}`;
const COPY_TIMEOUT_MS = 60 * 60_000;

export class NfsBackend implements Backend {
  readonly traits = nfsTraits;
  readonly export: ExportMount;
  readonly agent: ServerAgent | undefined;

  constructor(readonly pool: NfsPool, private readonly runner: Runner, _nodeId: string) {
    this.agent = ServerAgent.forPool(pool);
    this.export = new ExportMount(runner, {
      poolId: pool.id, server: pool.server, export: pool.export, options: pool.options,
      timeoutSeconds: pool.timeoutSeconds, mountRoot: join(NFS_MOUNT_ROOT, 'exports'),
    });
  }

  private volState(root: string, name: string) { return join(root, STATE_DIR, 'volumes', `${name}.json`); }
  private snapDir(root: string, vol: string, snap: string) { return join(root, this.snapRel(vol, snap)); }
  private snapState(root: string, vol: string, snap: string) { return join(root, STATE_DIR, 'snapshots', `${vol}@${snap}.json`); }
  /** A snapshot's copy, relative to the export (the server agent's view). */
  private snapRel(vol: string, snap: string) { return `${STATE_DIR}/snapshots/${vol}@${snap}`; }

  private async layout(root: string): Promise<void> {
    await mkdir(join(root, STATE_DIR, 'volumes'), { recursive: true, mode: 0o700 });
    await mkdir(join(root, STATE_DIR, 'snapshots'), { recursive: true, mode: 0o700 });
  }

  /** The transport descriptor the node mounts (the contract's volume context). */
  nodeContext(rec: VolumeRecord): NodeContext {
    return nfsNodeContext(this.pool, rec);
  }

  /** The state as a record: its directory is the record's location (nodeContext reads it). */
  private toRecord(s: NfsVolumeState): VolumeRecord {
    const { dir, ...rec } = s;
    return { ...rec, location: dir };
  }

  /**
   * A copy of the tree at `from` as `to` (both relative to the export): on the server with
   * reflinks when the server agent says so, else `cp -a` through the controller's mount
   * (NFSv4.2 makes that a server-side copy where the server can).
   */
  private async copyTree(root: string, from: string, to: string): Promise<void> {
    const mode = this.agent?.spec.snapshots ?? 'copy';
    if (mode === 'none') throw new StorageError('unsupported', `pool "${this.pool.id}" takes no snapshots or clones (serverAgent.snapshots: none)`);
    if (mode === 'reflink') return this.agent!.reflink(from, to);
    await rm(join(root, to), { recursive: true, force: true });
    try {
      await this.runner.run('cp', ['-a', '--reflink=auto', '--', join(root, from), join(root, to)], { timeoutMs: COPY_TIMEOUT_MS });
    } catch (e) {
      throw unavailable(`pool "${this.pool.id}": copying ${from} failed: ${(e as Error).message}`, e);
    }
  }

  /**
   * A call that also runs commands on the server (each bounded by the pool's timeout) gets a
   * few of those; a copy of a volume gets COPY_TIMEOUT_MS. Otherwise the pool's timeout.
   */
  private agentTimeout(): number | undefined {
    return this.agent ? this.pool.timeoutSeconds * 1000 * 4 : undefined;
  }

  /** A project id no other volume of the pool holds (first choice stable per name). */
  private async allocProject(root: string, name: string): Promise<number> {
    const taken = new Set((await this.readAll<NfsVolumeState>(join(root, STATE_DIR, 'volumes')))
      .filter((v) => v.name !== name && v.projectId !== undefined).map((v) => v.projectId));
    for (let attempt = 0; ; attempt++) {
      const id = projectIdFor(name, attempt);
      if (!taken.has(id)) return id;
    }
  }

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    if (spec.mode !== 'filesystem') throw new StorageError('invalid', NFS_BLOCK_REASON);
    checkNfsParams(spec.params);
    return this.export.bounded('creating a volume', async (root) => {
      await this.layout(root);
      const file = this.volState(root, spec.name);
      const existing = await readStateForUpdate<NfsVolumeState>(file);
      if (existing?.complete) {
        checkCompatible(existing, spec);
        return this.toRecord(existing);
      }
      let sourceDir: string | undefined;
      let sourceSize = 0;
      if (spec.source?.kind === 'snapshot') {
        const snap = await readState<SnapshotRecord>(this.snapState(root, spec.source.volume, spec.source.snapshot));
        if (!snap?.ready) throw notFound(`source snapshot ${spec.source.volume}@${spec.source.snapshot} does not exist in pool "${this.pool.id}"`);
        sourceDir = this.snapRel(snap.volume, snap.name);
        sourceSize = snap.sizeBytes;
      } else if (spec.source?.kind === 'volume') {
        const vol = await readState<NfsVolumeState>(this.volState(root, spec.source.volume));
        if (!vol?.complete) throw notFound(`source volume ${spec.source.volume} does not exist in pool "${this.pool.id}"`);
        sourceDir = vol.dir;
        sourceSize = vol.sizeBytes;
      }
      if (sourceDir && spec.sizeBytes < sourceSize) {
        throw outOfRange(`the source holds ${sourceSize} bytes; a volume made from it needs at least that`);
      }
      // A retry keeps the directory the first attempt chose (the template's inputs may differ).
      const dir = existing?.dir ?? renderSubdir(spec.params.subdir ?? this.pool.subdir ?? DEFAULT_SUBDIR, spec.name, spec.pvc);
      if (!existing) await this.refuseTakenDir(root, dir, spec.name);
      const state: NfsVolumeState = {
        name: spec.name,
        requestName: spec.requestName,
        sizeBytes: spec.sizeBytes,
        mode: 'filesystem',
        params: { ...spec.params },
        complete: false,
        dir,
        createdAt: existing?.createdAt ?? new Date().toISOString(),
        ...(spec.source ? { source: spec.source } : {}),
        ...(spec.pvc ? { pvc: spec.pvc } : {}),
        ...(this.agent?.quotas ? { projectId: existing?.projectId ?? await this.allocProject(root, spec.name) } : {}),
      };
      await writeState(file, state); // intent first: a crash from here on is redone by the retry
      const path = join(root, dir);
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      if (sourceDir) {
        await this.copyTree(root, sourceDir, dir);
      } else {
        await rm(path, { recursive: true, force: true });
        await mkdir(path, { mode: 0o2777 });
      }
      // The limit before the volume is complete: no one gets a volume without its size enforced.
      if (state.projectId !== undefined) await this.agent!.limitTree(dir, state.projectId, state.sizeBytes);
      state.complete = true;
      await writeState(file, state);
      return this.toRecord(state);
    }, spec.source ? COPY_TIMEOUT_MS : this.agentTimeout(), volumeKey(spec.name));
  }

  /** Another volume's (or a hand-made) directory is never adopted or wiped by a new volume. */
  private async refuseTakenDir(root: string, dir: string, name: string): Promise<void> {
    try {
      await stat(join(root, dir));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    throw new StorageError('exists', `pool "${this.pool.id}": directory "${dir}" for volume ${name} already exists on the export and belongs to no volume of this name; remove it or change subdir`);
  }

  async deleteVolume(name: string): Promise<void> {
    await this.export.bounded('deleting a volume', async (root) => {
      const file = this.volState(root, name);
      const state = await readStateForUpdate<NfsVolumeState>(file);
      if (!state) return;
      const onDelete = state.params.onDelete ?? this.pool.onDelete;
      await writeState(file, { ...state, complete: false });
      const path = join(root, state.dir);
      if (onDelete === 'delete') {
        await rm(path, { recursive: true, force: true });
      } else if (onDelete === 'archive') {
        await mkdir(join(root, ARCHIVE_DIR), { recursive: true, mode: 0o700 });
        await rename(path, join(root, ARCHIVE_DIR, archiveName(name))).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      } // retain: the directory stays where it is; only poolcsi forgets it
      if (state.projectId !== undefined) await this.agent?.setLimit(state.projectId, 0);
      await this.pruneEmptyParents(root, state.dir);
      await removeState(file);
    }, this.agentTimeout(), volumeKey(name));
  }

  /** A template like ns/name leaves ns/ behind; remove such parents while they are empty. */
  private async pruneEmptyParents(root: string, dir: string): Promise<void> {
    for (let d = dirname(dir); d !== '.' && d !== '/'; d = dirname(d)) {
      try { await rmdir(join(root, d)); } catch { return; }
    }
  }

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    return this.export.bounded('reading a volume', async (root) => {
      const s = await readState<NfsVolumeState>(this.volState(root, name));
      return s?.complete ? this.toRecord(s) : undefined;
    });
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return this.export.bounded('listing volumes', async (root) => {
      const states = await this.readAll<NfsVolumeState>(join(root, STATE_DIR, 'volumes'));
      return states.filter((v) => v.complete).map((v) => this.toRecord(v));
    });
  }

  async expandVolume(name: string, sizeBytes: number): Promise<VolumeRecord> {
    return this.export.bounded('expanding a volume', async (root) => {
      const file = this.volState(root, name);
      const state = await readStateForUpdate<NfsVolumeState>(file);
      if (!state?.complete) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
      if (sizeBytes <= state.sizeBytes) return this.toRecord(state);
      if (state.projectId !== undefined) await this.agent!.setLimit(state.projectId, sizeBytes);
      state.sizeBytes = sizeBytes;
      await writeState(file, state);
      return this.toRecord(state);
    }, this.agentTimeout(), volumeKey(name));
  }

  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    return this.export.bounded('taking a snapshot', async (root) => {
      await this.layout(root);
      const file = this.snapState(root, volume, name);
      const existing = await readStateForUpdate<SnapshotRecord>(file);
      if (existing?.ready) return existing;
      const vol = await readState<NfsVolumeState>(this.volState(root, volume));
      if (!vol?.complete) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}"`);
      const snap: SnapshotRecord = {
        volume, name, requestName, sizeBytes: vol.sizeBytes, createdAt: existing?.createdAt ?? new Date().toISOString(), ready: false,
      };
      await writeState(file, snap);
      await this.copyTree(root, vol.dir, this.snapRel(volume, name));
      snap.ready = true;
      await writeState(file, snap);
      return snap;
    }, COPY_TIMEOUT_MS, snapshotKey(volume, name));
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    await this.export.bounded('deleting a snapshot', async (root) => {
      const file = this.snapState(root, volume, name);
      const snap = await readStateForUpdate<SnapshotRecord>(file);
      if (!snap) return;
      await writeState(file, { ...snap, ready: false });
      await rm(this.snapDir(root, volume, name), { recursive: true, force: true });
      await removeState(file);
    }, undefined, snapshotKey(volume, name));
  }

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    return this.export.bounded('reading a snapshot', async (root) => {
      const s = await readState<SnapshotRecord>(this.snapState(root, volume, name));
      return s?.ready ? s : undefined;
    });
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return this.export.bounded('listing snapshots', async (root) => {
      return (await this.readAll<SnapshotRecord>(join(root, STATE_DIR, 'snapshots'))).filter((s) => s.ready);
    });
  }

  private async readAll<T>(dir: string): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const states = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readState<T>(join(dir, n))));
    return states.filter((s) => s !== undefined) as T[];
  }

  async capacity(): Promise<Capacity> {
    return this.export.bounded('reading capacity', async (root) => {
      const s = await statfs(root);
      return {
        totalBytes: s.blocks * s.bsize,
        availableBytes: s.bavail * s.bsize,
        notes: this.agent?.quotas ? [] : [`nfs pool "${this.pool.id}" enforces no sizes (no server agent with quota xfs-project): volume sizes are recorded, not enforced; capacity is the export's free space`],
      };
    });
  }

  async publish(name: string, node: string, opts: PublishOptions): Promise<Record<string, string>> {
    return this.export.bounded('recording a publish', async (root) => {
      const file = this.volState(root, name);
      const state = await readStateForUpdate<NfsVolumeState>(file);
      if (!state?.complete) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
      recordPublish(state, node, opts);
      await writeState(file, state);
      return {};
    }, undefined, volumeKey(name));
  }

  async unpublish(name: string, node?: string): Promise<void> {
    await this.export.bounded('recording an unpublish', async (root) => {
      const file = this.volState(root, name);
      const state = await readStateForUpdate<NfsVolumeState>(file);
      if (!state?.complete || !state.published) return;
      if (node === undefined) delete state.published;
      else delete state.published[node];
      await writeState(file, state);
    }, undefined, volumeKey(name));
  }
}
