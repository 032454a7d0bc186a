// `zfspool` pools: node-local OpenZFS. A block volume is a zvol, a filesystem volume a dataset
// whose size is its refquota, both <dataset>/<volume name>. Snapshots are ZFS snapshots, clones
// and restores ZFS clones (grown when asked for more than the source). State lives in user
// properties (props.ts) on the datasets and snapshots themselves.
//
// ZFS cannot destroy a dataset whose snapshots have clones, nor a snapshot that has clones, and
// a snapshot cannot outlive its dataset. poolcsi defers such deletes and hides the object:
// - a volume with snapshots or clone dependents is renamed to <dataset>/trash:<random>:<name>
//   (its name is free again at once; its snapshots go with it and stay usable as CSI
//   snapshots; clones keep their origin) and marked poolcsi.io:trash;
// - a snapshot with clones is marked poolcsi.io:snapdeleted and no longer listed;
// and every delete ends by destroying what no longer has dependents (collect()). Promoting a
// clone instead would move the origin's snapshots onto the clone, and the CSI snapshots with them.
import { randomBytes } from 'node:crypto';
import type { Runner } from '../../exec/index.js';
import type { ZfsPool } from '../../pools/schema.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { checkGrowLimit, exists, invalid, notFound, outOfRange, StorageError } from '../errors.js';
import type {
  Backend, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord, VolumeSource,
} from '../types.js';
import {
  cloneCmd, createDatasetCmd, createZvolCmd, destroyCmd, renameCmd, setCmd, snapshotCmd,
} from './commands.js';
import { zfsNodeContext } from './context.js';
import { isKind } from './errors.js';
import { cloneSourceSnapshot, isTrash, snapshotName, trashDataset, volumeDataset } from './names.js';
import { dec, enc, nativeProps, P, snapshotProps, volumeProps, ZFS_PARAMS, type NativeProps, type VolumeState } from './props.js';
import type { DatasetRow, SnapshotRow } from './report.js';
import { Zfs } from './zfs.js';

export const zfsPoolTraits: TypeTraits = {
  local: true,
  modes: ['filesystem', 'block'],
  snapshots: true,
  clones: true,
  expand: true,
  // Filesystem volumes are datasets (ZFS is the filesystem); block volumes are zvols.
  makesFilesystem: false,
  // A refquota or volsize change takes effect at once; nothing to grow on the node.
  nodeExpand: false,
  multiNode: { filesystem: false, block: false },
  params: ZFS_PARAMS,
};

/** zvols are sized in whole volume blocks; ZFS's default volblocksize is 8k (2.1) or 16k (2.2). */
const DEFAULT_VOLBLOCK = 16 * 1024;
const roundUp = (n: number, unit: number) => Math.ceil(Math.max(n, 1) / unit) * unit;

export class ZfsPoolBackend implements Backend {
  readonly traits = zfsPoolTraits;
  private readonly zfs: Zfs;
  private readonly place: string;

  /**
   * `exported`: the store of a zfs-iscsi pool on its storage host (`nodeId` names that host).
   * Every volume is then a zvol, filesystem ones too (the node makes the filesystem on the
   * LUN), and records carry no node (every node reaches them).
   */
  constructor(readonly pool: ZfsPool, runner: Runner, private readonly nodeId: string, private readonly exported = false) {
    this.zfs = new Zfs(runner, pool.pool);
    this.place = exported ? `storage host ${nodeId}` : `node ${nodeId}`;
  }

  private ds(name: string): string { return volumeDataset(this.pool.pool, name); }
  private where(ds: string): string { return `${ds} on ${this.place}`; }
  /** Whether a volume of this mode is a zvol (else a dataset with a refquota). */
  private zvol(mode: string): boolean { return this.exported || mode === 'block'; }

  // ---- state ----------------------------------------------------------------------------

  private state(row: DatasetRow): (VolumeState & { complete: boolean }) | undefined {
    const p = row.props;
    const pool = dec<string>(p[P.pool]);
    const volume = dec<string>(p[P.volume]);
    const mode = dec<string>(p[P.mode]);
    if (pool !== this.pool.id || !volume || (mode !== 'filesystem' && mode !== 'block') || dec(p[P.snapshot]) !== undefined) return undefined;
    const source = dec<VolumeSource>(p[P.source]);
    const pvc = dec<VolumeState['pvc']>(p[P.pvc]);
    return {
      pool, volume, mode, request: dec<string>(p[P.request]) ?? '', params: dec<Record<string, string>>(p[P.params]) ?? {},
      ...(source ? { source } : {}), ...(pvc ? { pvc } : {}), complete: dec<boolean>(p[P.complete]) === true,
    };
  }

  private sizeOf(row: DatasetRow): number {
    return row.type === 'volume' ? row.volsizeBytes : Math.max(row.refquotaBytes, 0);
  }

  /** The volume a dataset holds, when it is a live one of this pool (complete or not). */
  private record(row: DatasetRow | undefined): (VolumeRecord & { row: DatasetRow }) | undefined {
    if (!row || isTrash(this.pool.pool, row.name)) return undefined;
    const s = this.state(row);
    if (!s || this.ds(s.volume) !== row.name) return undefined;
    const published = dec<Record<string, { readonly: boolean }>>(row.props[P.published]);
    return {
      name: s.volume, requestName: s.request, sizeBytes: this.sizeOf(row), mode: s.mode, params: s.params, complete: s.complete,
      ...(this.exported ? {} : { node: this.nodeId }), createdAt: row.createdAt, row,
      ...(s.source ? { source: s.source } : {}), ...(s.pvc ? { pvc: s.pvc } : {}),
      ...(published && Object.keys(published).length ? { published } : {}),
    };
  }

  private snapRecord(row: SnapshotRow): SnapshotRecord | undefined {
    const p = row.props;
    const name = dec<string>(p[P.snapshot]);
    const volume = dec<string>(p[P.volume]);
    if (dec<string>(p[P.pool]) !== this.pool.id || !name || !volume || dec(p[P.snapDeleted]) !== undefined) return undefined;
    const size = dec<number>(p['poolcsi.io:size']);
    return {
      volume, name, requestName: dec<string>(p[P.request]) ?? '', createdAt: row.createdAt, ready: true,
      sizeBytes: typeof size === 'number' ? size : Math.max(row.volsizeBytes, row.referencedBytes),
    };
  }

  private async findSnapshot(volume: string, name: string): Promise<{ row: SnapshotRow; rec: SnapshotRecord } | undefined> {
    for (const row of await this.zfs.snapshots()) {
      const rec = this.snapRecord(row);
      if (rec && rec.volume === volume && rec.name === name) return { row, rec };
    }
    return undefined;
  }

  // ---- volumes --------------------------------------------------------------------------

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    const rec = await this.volumeAny(name);
    return rec?.complete ? rec : undefined;
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return (await this.zfs.datasets()).map((r) => this.record(r)).filter((v) => !!v?.complete).map((v) => {
      const { row: _row, ...out } = v!;
      return out;
    });
  }

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    const native = nativeProps(spec.params);
    const ds = this.ds(spec.name);
    const state: VolumeState = {
      pool: this.pool.id, volume: spec.name, request: spec.requestName, mode: spec.mode, params: { ...spec.params },
      ...(spec.source ? { source: spec.source } : {}), ...(spec.pvc ? { pvc: spec.pvc } : {}),
    };
    // An empty volume is made in one `zfs create` of a new name, complete at once: try it
    // first, and look at what holds the name only when ZFS refuses it as existing. A clone
    // looks first: a retry must find the clone it made even if its source is gone since.
    if (!spec.source) {
      try {
        return this.made(spec, await this.createEmpty(spec, ds, state, native));
      } catch (e) {
        if (!isKind(e, 'exists')) throw e;
      }
    }
    const existing = await this.zfs.dataset(ds);
    if (existing) {
      const rec = this.record(existing);
      if (!rec || rec.name !== spec.name) throw exists(`dataset ${this.where(ds)} already exists and is not volume ${spec.name} of pool "${this.pool.id}"`);
      if (rec.complete) {
        checkCompatible(rec, spec);
        return this.getVolume(spec.name) as Promise<VolumeRecord>;
      }
      if (rec.requestName !== spec.requestName || JSON.stringify(rec.source ?? null) !== JSON.stringify(spec.source ?? null)) {
        throw exists(`volume ${spec.name} is being created for another request ("${rec.requestName}")`);
      }
      // A create that a crash interrupted (a clone not yet grown): nobody has used it; start over.
      await this.zfs.run(destroyCmd(ds), `removing the unfinished volume ${this.where(ds)}`);
    }
    try {
      return this.made(spec, spec.source ? await this.createFrom(spec, ds, state, native) : await this.createEmpty(spec, ds, state, native));
    } catch (e) {
      // A concurrent retry of the same request created it meanwhile.
      if (isKind(e, 'exists')) {
        const again = this.record(await this.zfs.dataset(ds));
        if (again?.complete && again.name === spec.name) { checkCompatible(again, spec); return (await this.getVolume(spec.name))!; }
      }
      throw e;
    }
  }

  /** The record of a volume just made complete, as a read of it would give (no read: a zfs run). */
  private made(spec: CreateSpec, sizeBytes: number): VolumeRecord {
    return {
      name: spec.name, requestName: spec.requestName, sizeBytes, mode: spec.mode, params: { ...spec.params }, complete: true,
      ...(this.exported ? {} : { node: this.nodeId }), createdAt: new Date().toISOString(),
      ...(spec.source ? { source: spec.source } : {}), ...(spec.pvc ? { pvc: spec.pvc } : {}),
    };
  }

  private zvolSize(bytes: number, native: NativeProps): number {
    return roundUp(bytes, Math.max(native.volblocksize ?? DEFAULT_VOLBLOCK, DEFAULT_VOLBLOCK));
  }

  private createProps(spec: CreateSpec, native: NativeProps, state: VolumeState, complete: boolean, sizeBytes?: number): Record<string, string> {
    const props: Record<string, string> = {};
    if (native.compression) props.compression = native.compression;
    if (this.zvol(spec.mode)) {
      if (native.volblocksize && !spec.source) props.volblocksize = String(native.volblocksize);
    } else {
      if (native.recordsize) props.recordsize = String(native.recordsize);
      if (sizeBytes !== undefined) {
        props.refquota = String(sizeBytes);
        if (!native.sparse) props.refreservation = String(sizeBytes);
      }
    }
    return { ...props, ...volumeProps(state, complete) };
  }

  /** Makes the volume; its size in bytes. */
  private async createEmpty(spec: CreateSpec, ds: string, state: VolumeState, native: NativeProps): Promise<number> {
    const zvol = this.zvol(spec.mode);
    const size = zvol ? this.zvolSize(spec.sizeBytes, native) : Math.max(spec.sizeBytes, 1);
    checkGrowLimit(spec.name, size, spec.limitBytes);
    // One `zfs create` makes the dataset with all its properties at once: complete from the start.
    const cmd = zvol
      ? createZvolCmd(ds, size, native.sparse, this.createProps(spec, native, state, true))
      : createDatasetCmd(ds, this.createProps(spec, native, state, true, size));
    await this.zfs.run(cmd, `creating ${zvol ? 'zvol' : 'dataset'} ${this.where(ds)}`);
    return size;
  }

  /** A clone of a snapshot (restore) or of a volume (through a snapshot of the driver's own). */
  private async createFrom(spec: CreateSpec, ds: string, state: VolumeState, native: NativeProps): Promise<number> {
    const src = spec.source!;
    let origin: string;
    let sourceSize: number;
    let sourceMode: string;
    // A clone keeps its origin's volblocksize, which its volsize must be a multiple of.
    let sourceBlock = 0;
    if (src.kind === 'snapshot') {
      const found = await this.findSnapshot(src.volume, src.snapshot);
      if (!found) throw notFound(`source snapshot ${src.volume}@${src.snapshot} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
      origin = found.row.name;
      sourceSize = found.rec.sizeBytes;
      const from = await this.zfs.dataset(found.row.dataset);
      sourceMode = (from && this.state(from)?.mode) ?? (from?.type === 'volume' ? 'block' : 'filesystem');
      sourceBlock = from?.volblocksize ?? 0;
    } else {
      const from = this.record(await this.zfs.dataset(this.ds(src.volume)));
      if (!from?.complete || from.name !== src.volume) throw notFound(`source volume ${src.volume} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
      origin = cloneSourceSnapshot(from.row.name, ds);
      sourceSize = from.sizeBytes;
      sourceMode = from.mode;
      sourceBlock = from.row.volblocksize;
      const have = (await this.zfs.snapshots()).some((s) => s.name === origin);
      if (!have) {
        await this.zfs.run(snapshotCmd(origin, { [P.internal]: enc(true), 'poolcsi.io:size': enc(sourceSize) }), `taking the clone source snapshot ${origin}`);
      }
    }
    if (sourceMode !== spec.mode) throw invalid(`the source is a ${sourceMode} volume; a ${spec.mode} volume cannot be made from it`);
    const zvol = this.zvol(spec.mode);
    const want = zvol
      ? roundUp(Math.max(spec.sizeBytes, sourceSize), Math.max(sourceBlock, DEFAULT_VOLBLOCK))
      : Math.max(spec.sizeBytes, sourceSize);
    checkGrowLimit(spec.name, want, spec.limitBytes);
    if (spec.limitBytes > 0 && sourceSize > spec.limitBytes) throw outOfRange(`the source holds ${sourceSize} bytes, more than limit_bytes ${spec.limitBytes}`);
    const grow = want > sourceSize;
    // The clone is complete at once unless it must still grow (then a crash in between leaves
    // it incomplete, and the retry starts over).
    const props = this.createProps(spec, native, state, !grow, zvol ? undefined : want);
    await this.zfs.run(cloneCmd(origin, ds, props), `cloning ${origin} to ${this.where(ds)}`);
    if (grow) {
      const sizeProps: Record<string, string> = zvol ? { volsize: String(want) } : {};
      await this.zfs.run(setCmd(ds, { ...sizeProps, [P.complete]: enc(true) }), `growing ${this.where(ds)} to ${want} bytes`);
    }
    return want;
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    const ds = this.ds(name);
    const rec = this.record(await this.zfs.dataset(ds));
    if (!rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
    const { row: _row, ...out } = rec;
    if (rec.sizeBytes >= sizeBytes) return out;
    const native = nativeProps(rec.params);
    const zvol = rec.row.type === 'volume';
    const size = zvol ? roundUp(sizeBytes, Math.max(rec.row.volblocksize, 512)) : sizeBytes;
    checkGrowLimit(name, size, limitBytes);
    const props: Record<string, string> = zvol ? { volsize: String(size) } : { refquota: String(size), ...(native.sparse ? {} : { refreservation: String(size) }) };
    await this.zfs.run(setCmd(ds, props), `growing ${this.where(ds)} to ${size} bytes`);
    return { ...out, sizeBytes: size };
  }

  async deleteVolume(name: string): Promise<void> {
    const ds = this.ds(name);
    const row = await this.zfs.dataset(ds);
    const rec = this.record(row);
    if (!row || !rec || rec.name !== name) return;
    // Most volumes have no snapshot: ZFS destroys such a dataset at once and refuses ("has
    // children") one with snapshots, which the careful way below then sorts out.
    try {
      await this.zfs.run(destroyCmd(ds), `destroying ${this.where(ds)}`);
      // Only a clone's delete can free something deferred: its origin snapshot, and the trash
      // that snapshot kept.
      if (row.origin) await this.collect(row.origin);
      return;
    } catch (e) {
      if (isKind(e, 'not-found')) return;
      if (!isKind(e, 'precondition')) throw e;
    }
    const snaps = (await this.zfs.snapshots()).filter((s) => s.dataset === ds);
    // Snapshots nothing needs: internal clone sources without clones, CSI-deleted ones without clones.
    const live = snaps.filter((s) => s.clones.length > 0 || this.snapRecord(s) !== undefined);
    for (const s of snaps) if (!live.includes(s)) await this.destroy(s.name);
    if (live.length === 0) {
      await this.destroy(ds);
    } else {
      // Snapshots or clones still depend on it: out of the way, hidden, destroyed by collect().
      const trash = trashDataset(this.pool.pool, ds, randomBytes(4).toString('hex'));
      await this.zfs.run(setCmd(ds, { [P.trash]: enc(new Date().toISOString()) }), `marking ${this.where(ds)} deleted`);
      await this.zfs.run(renameCmd(ds, trash), `moving the deleted volume ${this.where(ds)} aside (${live.length} snapshot(s) or clone(s) still depend on it)`);
    }
    await this.collect(row.origin);
  }

  private async destroy(target: string): Promise<void> {
    try {
      await this.zfs.run(destroyCmd(target), `destroying ${this.where(target)}`);
    } catch (e) {
      if (!isKind(e, 'not-found')) throw e;
    }
  }

  /**
   * Destroys what deferred deletes left once nothing depends on it: the origin snapshot of a
   * clone just destroyed (a clone source, or a CSI-deleted snapshot), and trash datasets with
   * no snapshot a CSI snapshot or clone still needs.
   */
  private async collect(origin: string): Promise<void> {
    const needed = (s: SnapshotRow) => s.clones.length > 0 || this.snapRecord(s) !== undefined;
    let snaps = await this.zfs.snapshots();
    const o = snaps.find((s) => s.name === origin);
    if (o && !needed(o)) {
      await this.destroy(o.name);
      snaps = snaps.filter((s) => s !== o);
    }
    for (const d of await this.zfs.datasets()) {
      if (!isTrash(this.pool.pool, d.name)) continue;
      const mine = snaps.filter((s) => s.dataset === d.name);
      if (mine.some(needed)) continue;
      for (const s of mine) await this.destroy(s.name);
      await this.destroy(d.name);
      // Its own origin may now be free too (a chain of deferred deletes).
      if (d.origin) await this.collect(d.origin);
    }
  }

  // ---- snapshots --------------------------------------------------------------------------

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    return (await this.findSnapshot(volume, name))?.rec;
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return (await this.zfs.snapshots()).map((s) => this.snapRecord(s)).filter((s): s is SnapshotRecord => !!s);
  }

  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    const ds = this.ds(volume);
    const found = await this.findSnapshot(volume, name);
    if (found) {
      // A snapshot of an earlier volume of this name (deleted, waiting in the trash) is not this one's.
      if (found.row.dataset !== ds) throw exists(`snapshot ${volume}@${name} already exists and was taken of an earlier volume named ${volume}, not of the current one`);
      return found.rec;
    }
    const rec = this.record(await this.zfs.dataset(ds));
    if (!rec?.complete || rec.name !== volume) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
    const snap = snapshotName(ds, volume, name);
    await this.zfs.run(snapshotCmd(snap, { ...snapshotProps(this.pool.id, volume, name, requestName), 'poolcsi.io:size': enc(rec.sizeBytes) }), `taking snapshot ${this.where(snap)}`);
    // As a read of it would say (no read: a zfs run): ZFS keeps the creation time in seconds.
    const now = new Date();
    now.setUTCMilliseconds(0);
    return { volume, name, requestName, sizeBytes: rec.sizeBytes, createdAt: now.toISOString(), ready: true };
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    const found = await this.findSnapshot(volume, name);
    if (!found) return;
    if (found.row.clones.length > 0) {
      // Clones depend on it: hidden now, destroyed with the last clone (collect()).
      await this.zfs.run(setCmd(found.row.name, { [P.snapDeleted]: enc(new Date().toISOString()) }), `marking snapshot ${this.where(found.row.name)} deleted`);
      return;
    }
    await this.destroy(found.row.name);
    await this.collect('');
  }

  // ---- capacity -------------------------------------------------------------------------

  async capacity(): Promise<Capacity> {
    let space;
    try {
      space = await this.zfs.space();
    } catch (e) {
      if (isKind(e, 'not-found')) return { totalBytes: 0, availableBytes: 0, maxVolumeBytes: 0, notes: [`dataset ${this.pool.pool} does not exist on node ${this.nodeId}`] };
      throw e;
    }
    return { totalBytes: space.usedBytes + space.availableBytes, availableBytes: space.availableBytes, maxVolumeBytes: space.availableBytes };
  }

  // ---- for an exporter (zfs-iscsi) ----------------------------------------------------------

  /** The volume's record whether or not its create completed (a delete must find either). */
  async volumeAny(name: string): Promise<VolumeRecord | undefined> {
    const rec = this.record(await this.zfs.dataset(this.ds(name)));
    if (!rec || rec.name !== name) return undefined;
    const { row: _row, ...out } = rec;
    return out;
  }

  /** The zvol's device by name (udev's link, which survives a reboot, unlike /dev/zdN), once
   * udev has made it: an exporter saves this path in its configuration. */
  async stablePath(name: string): Promise<string> {
    const dev = `/dev/zvol/${this.ds(name)}`;
    await this.zfs.waitForDevice(dev);
    return dev;
  }

  // ---- publish records ------------------------------------------------------------------

  async publish(name: string, node: string, opts: PublishOptions): Promise<Record<string, string>> {
    const ds = this.ds(name);
    const rec = this.record(await this.zfs.dataset(ds));
    if (!rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    const before = rec.published?.[node];
    recordPublish(rec, node, opts);
    if (!before) await this.zfs.run(setCmd(ds, { [P.published]: enc(rec.published) }), `recording the publication of ${name} to ${node}`);
    return {};
  }

  async unpublish(name: string, node?: string): Promise<void> {
    const ds = this.ds(name);
    const rec = this.record(await this.zfs.dataset(ds));
    if (!rec?.published) return;
    const keep = Object.fromEntries(Object.entries(rec.published).filter(([n]) => node !== undefined && n !== node));
    if (Object.keys(keep).length === Object.keys(rec.published).length) return;
    await this.zfs.run(setCmd(ds, { [P.published]: enc(keep) }), `removing the publication of ${name}`);
  }

  nodeContext(rec: VolumeRecord): NodeContext {
    return zfsNodeContext(this.pool, rec.name);
  }
}
