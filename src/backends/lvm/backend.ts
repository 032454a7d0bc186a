// What `lvm` and `lvmthin` pools share: reading state back from LV tags, deleting, snapshots
// lookups, publish records, the node context (transport `lvm`) and the device for saferemove.
// thick.ts and thin.ts add how volumes and snapshots are made.
import { randomBytes } from 'node:crypto';
import { local, type Runner } from '../../exec/index.js';
import { devicePath } from '../../sys/device.js';
import { activeLvDevice } from '../../sys/dm.js';
import { SysError } from '../../sys/errors.js';
import type { LvmPool, LvmThinPool } from '../../pools/schema.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { exists, notFound, precondition, StorageError } from '../errors.js';
import type {
  Backend, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { activateCmd, removeCmd, tagCmd, wipeCmd, type Program } from './commands.js';
import { lvmNodeContext } from './context.js';
import { isKind } from './errors.js';
import { Lvm, View } from './lvm.js';
import { snapshotLvName, volumeLvName } from './names.js';
import { isCowSnapshot, type LvRow } from './report.js';
import {
  first, K, parseTags, publishedFromTags, publishTag, snapshotTags, tag, volumeFromTags, volumeTags,
} from './tags.js';

/** Time for zeroing or discarding a whole LV before removal. */
const WIPE_TIMEOUT_MS = 6 * 3600_000;

export function lvmTraits(params: readonly string[], snapshots = true): TypeTraits {
  return {
    local: true,
    modes: ['filesystem', 'block'],
    snapshots,
    clones: true,
    expand: true,
    makesFilesystem: true,
    nodeExpand: true,
    multiNode: { filesystem: false, block: false },
    params,
  };
}

export abstract class LvmBackendBase<P extends LvmPool | LvmThinPool> implements Backend {
  abstract readonly traits: TypeTraits;
  protected readonly lvm: Lvm;
  private extent?: number;

  /**
   * `nodeId` names where the VG is, in messages and (node-local pools) on records; `shared`
   * (an exported store: iscsi) leaves the node off the records, any node may reach the volume.
   */
  constructor(readonly pool: P, protected readonly runner: Runner, protected readonly nodeId: string, private readonly shared = false) {
    this.lvm = new Lvm(runner, pool.vgname);
  }

  private get holder(): { node?: string } { return this.shared ? {} : { node: this.nodeId }; }

  abstract createVolume(spec: CreateSpec): Promise<VolumeRecord>;
  abstract expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord>;
  /** The lvcreate that makes snapshot `snapLv` of `origin` (after any refusal of the type's own). */
  protected abstract snapshotCommand(view: View, origin: string, snapLv: string, tags: readonly string[]): { cmd: Program; what: string };
  abstract capacity(): Promise<Capacity>;

  protected get vg(): string { return this.pool.vgname; }
  protected where(lv: string): string { return `${this.vg}/${lv} on node ${this.nodeId}`; }

  /** The VG's extent size (fixed once the VG exists), read once. */
  protected async extentBytes(view?: View): Promise<number> {
    const fromView = view?.rows.find((r) => r.extentBytes > 0)?.extentBytes;
    if (fromView) this.extent = fromView;
    this.extent ??= (await this.lvm.vgInfo()).extentBytes;
    return this.extent;
  }

  // ---- state from tags ------------------------------------------------------------------

  /** The volume an LV holds, if it is one of this pool's volumes (complete or not). */
  protected volumeRecord(row: LvRow | undefined): VolumeRecord | undefined {
    if (!row) return undefined;
    const m = parseTags(row.tags);
    const v = volumeFromTags(m);
    if (!v || v.pool !== this.pool.id || m.has(K.temp) || volumeLvName(v.name) !== row.name) return undefined;
    const published = publishedFromTags(m);
    return {
      name: v.name,
      requestName: v.requestName,
      sizeBytes: row.sizeBytes,
      mode: v.mode,
      params: v.params,
      complete: !m.has(K.incomplete),
      ...this.holder,
      ...(v.source ? { source: v.source } : {}),
      ...(v.pvc ? { pvc: v.pvc } : {}),
      ...(row.createdAt ? { createdAt: row.createdAt } : {}),
      ...(published ? { published } : {}),
    };
  }

  protected snapshotRecord(row: LvRow | undefined): SnapshotRecord | undefined {
    if (!row) return undefined;
    const m = parseTags(row.tags);
    const volume = first(m, K.vol);
    const name = first(m, K.snap);
    if (first(m, K.pool) !== this.pool.id || !volume || !name || snapshotLvName(volume, name) !== row.name) return undefined;
    const cow = isCowSnapshot(row);
    return {
      volume,
      name,
      requestName: first(m, K.req) ?? '',
      sizeBytes: cow ? row.originSizeBytes || row.sizeBytes : row.sizeBytes,
      createdAt: row.createdAt ?? new Date(0).toISOString(),
      // A copy-on-write snapshot whose space ran out is invalid: its data is gone.
      ready: !(cow && row.snapshotInvalid),
    };
  }

  /** Tags of a new volume LV. */
  protected newVolumeTags(spec: CreateSpec, params: Record<string, string>): string[] {
    return volumeTags({
      pool: this.pool.id, name: spec.name, requestName: spec.requestName, mode: spec.mode, params,
      ...(spec.source ? { source: spec.source } : {}), ...(spec.pvc ? { pvc: spec.pvc } : {}),
    }, randomBytes(8).toString('hex'));
  }

  /** The record of a volume just created as `spec` asked, without reading it back. */
  protected createdRecord(spec: CreateSpec, sizeBytes: number, params: Record<string, string>): VolumeRecord {
    return {
      name: spec.name, requestName: spec.requestName, sizeBytes, mode: spec.mode, params, complete: true, ...this.holder,
      createdAt: new Date().toISOString(),
      ...(spec.source ? { source: spec.source } : {}), ...(spec.pvc ? { pvc: spec.pvc } : {}),
    };
  }

  /**
   * An LV already carries the name of a volume being created: the same request again (answer
   * it, or finish it when a crash interrupted it), or a conflict.
   */
  protected existingFor(spec: CreateSpec, row: LvRow): { record: VolumeRecord } | { resume: VolumeRecord } {
    const rec = this.volumeRecord(row);
    if (!rec || rec.name !== spec.name) {
      throw exists(`LV ${this.where(row.name)} already exists and is not volume ${spec.name} of pool "${this.pool.id}"`);
    }
    if (rec.complete) {
      checkCompatible(rec, spec);
      return { record: rec };
    }
    if (rec.requestName !== spec.requestName || JSON.stringify(rec.source ?? null) !== JSON.stringify(spec.source ?? null)) {
      throw exists(`volume ${spec.name} is being created for another request ("${rec.requestName}")`);
    }
    return { resume: rec };
  }

  /** Runs `create`; when LVM says the LV appeared meanwhile (a concurrent retry), answers from it. */
  protected async createOrAdopt(spec: CreateSpec, create: () => Promise<VolumeRecord>): Promise<VolumeRecord> {
    try {
      return await create();
    } catch (e) {
      if (!isKind(e, 'exists')) throw e;
      const row = await this.lvm.lv(volumeLvName(spec.name));
      if (!row) throw e;
      const found = this.existingFor(spec, row);
      if ('record' in found) return found.record;
      throw e;
    }
  }

  // ---- volumes --------------------------------------------------------------------------

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    const rec = await this.volumeAny(name);
    return rec?.complete ? rec : undefined;
  }

  /** The volume complete or half made (a delete removes both). */
  async volumeAny(name: string): Promise<VolumeRecord | undefined> {
    const rec = this.volumeRecord((await this.lvm.view()).get(volumeLvName(name)));
    return rec?.name === name ? rec : undefined;
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    const view = await this.lvm.view();
    return view.rows.map((r) => this.volumeRecord(r)).filter((v): v is VolumeRecord => !!v?.complete);
  }

  /** Checks before removing a volume LV (thick: copy-on-write snapshots). */
  protected async beforeRemove(_row: LvRow): Promise<void> { /* nothing for thin */ }

  async deleteVolume(name: string): Promise<void> {
    const lvName = volumeLvName(name);
    const row = (await this.lvm.view()).get(lvName);
    const rec = this.volumeRecord(row);
    if (!row || !rec || rec.name !== name) return;
    await this.beforeRemove(row);
    if (this.pool.saferemove !== 'off') {
      // lvremove refuses an open LV; the wipe would not, and would destroy data in use. Whether
      // it is open changes outside the driver (a mount, an umount): read now, not the cached view,
      // which was wrong both ways (a refusal right after an umount, a wipe right after a mount).
      const now = await this.lvm.lv(lvName);
      if (!now) return;
      if (now.open) throw precondition(`volume ${name} is in use: LV ${this.where(lvName)} is open (mounted or held by a process); unmount it first`);
      // Marked first: a crash while wiping leaves a volume nobody will use, and a retry wipes again.
      if (rec.complete) await this.lvm.change(tagCmd(this.vg, lvName, [tag(K.incomplete)]), `marking ${this.where(lvName)} for removal`);
      const dev = await this.device(lvName);
      await this.lvm.change(wipeCmd(dev, this.pool.saferemove), `wiping ${this.where(lvName)} (${this.pool.saferemove}) before removal`, WIPE_TIMEOUT_MS);
    }
    await this.removeLv(lvName);
  }

  protected async removeLv(lvName: string): Promise<void> {
    try {
      await this.lvm.change(removeCmd(this.vg, lvName), `removing LV ${this.where(lvName)}`);
    } catch (e) {
      if (isKind(e, 'not-found')) return;
      throw e;
    }
  }

  // ---- snapshots --------------------------------------------------------------------------

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    const s = this.snapshotRecord((await this.lvm.view()).get(snapshotLvName(volume, name)));
    return s && s.volume === volume && s.name === name ? s : undefined;
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    const view = await this.lvm.view();
    return view.rows.map((r) => this.snapshotRecord(r)).filter((s): s is SnapshotRecord => !!s);
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    if (!(await this.getSnapshot(volume, name))) return;
    await this.removeLv(snapshotLvName(volume, name));
  }

  /** The snapshot LV for `volume@name` when it exists: the same snapshot again, or a conflict. */
  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    const snapLv = snapshotLvName(volume, name);
    const view = await this.lvm.view();
    const existing = this.existingSnapshot(view.get(snapLv), volume, name);
    const src = this.sourceVolume(view, volume);
    const volUid = first(parseTags(src.row.tags), K.uid);
    if (existing) {
      // Thin snapshots outlive their volume: one of an earlier volume of this name is not this one's.
      const snapRow = view.get(snapLv)!;
      const snapUid = first(parseTags(snapRow.tags), K.srcUid);
      const earlier = snapUid !== undefined && volUid !== undefined ? snapUid !== volUid
        : !!(snapRow.createdAt && src.row.createdAt && Date.parse(snapRow.createdAt) < Date.parse(src.row.createdAt));
      if (earlier) throw exists(`snapshot ${volume}@${name} already exists and was taken of an earlier volume named ${volume}, not of the current one`);
      return existing;
    }
    const { cmd, what } = this.snapshotCommand(view, src.row.name, snapLv, snapshotTags(this.pool.id, volume, name, requestName, volUid));
    await this.lvm.change(cmd, `creating ${what} ${this.where(snapLv)} of ${src.row.name}`);
    return { volume, name, requestName, sizeBytes: src.row.sizeBytes, createdAt: new Date().toISOString(), ready: true };
  }

  protected existingSnapshot(row: LvRow | undefined, volume: string, name: string): SnapshotRecord | undefined {
    if (!row) return undefined;
    const s = this.snapshotRecord(row);
    if (s && s.volume === volume && s.name === name) return s;
    throw exists(`LV ${this.where(row.name)} already exists and is not snapshot ${volume}@${name} of pool "${this.pool.id}"`);
  }

  /** The complete volume behind a source LV, or NOT_FOUND. */
  protected sourceVolume(view: View, volume: string): { row: LvRow; rec: VolumeRecord } {
    const row = view.get(volumeLvName(volume));
    const rec = this.volumeRecord(row);
    if (!row || !rec?.complete || rec.name !== volume) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
    return { row, rec };
  }

  protected sourceSnapshot(view: View, volume: string, name: string): { row: LvRow; snap: SnapshotRecord } {
    const row = view.get(snapshotLvName(volume, name));
    const snap = this.snapshotRecord(row);
    if (!row || !snap || snap.volume !== volume || snap.name !== name) {
      throw notFound(`source snapshot ${volume}@${name} does not exist in pool "${this.pool.id}" on node ${this.nodeId}`);
    }
    if (!snap.ready) throw precondition(`snapshot ${volume}@${name} is invalid: its copy-on-write space filled up, so its data is lost`);
    return { row, snap };
  }

  // ---- publish records --------------------------------------------------------------------

  async publish(name: string, node: string, opts: PublishOptions): Promise<Record<string, string>> {
    const lvName = volumeLvName(name);
    const rec = this.volumeRecord((await this.lvm.view()).get(lvName));
    if (!rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    const before = rec.published?.[node];
    recordPublish(rec, node, opts);
    if (!before) await this.lvm.change(tagCmd(this.vg, lvName, [publishTag(node, opts.readonly)]), `recording the publication of ${name} to ${node}`);
    return {};
  }

  async unpublish(name: string, node?: string): Promise<void> {
    const lvName = volumeLvName(name);
    const rec = this.volumeRecord((await this.lvm.view()).get(lvName));
    if (!rec?.published) return;
    const drop = Object.entries(rec.published).filter(([n]) => node === undefined || n === node).map(([n, p]) => publishTag(n, p.readonly));
    if (drop.length) await this.lvm.change(tagCmd(this.vg, lvName, [], drop), `removing the publication of ${name}`);
  }

  // ---- node context and devices -------------------------------------------------------

  nodeContext(rec: VolumeRecord): NodeContext {
    return lvmNodeContext(this.pool, rec.name);
  }

  /** The LV's row once it is active (activated when needed). */
  protected async activeRow(lvName: string): Promise<LvRow> {
    let row = await this.lvm.lv(lvName);
    if (!row) throw notFound(`LV ${this.where(lvName)} does not exist`);
    if (!row.active || row.major < 0) {
      await this.lvm.change(activateCmd(this.vg, lvName), `activating ${this.where(lvName)}`);
      row = await this.lvm.lv(lvName);
      if (!row) throw notFound(`LV ${this.where(lvName)} disappeared while being activated`);
    }
    return row;
  }

  /**
   * A path of the volume's LV that survives reboots, for a configuration that names it (LIO
   * saves it): LVM's /dev/mapper name, not dm-N. Activates the LV first when needed.
   */
  async stablePath(name: string): Promise<string> {
    const lvName = volumeLvName(name);
    const row = await this.activeRow(lvName);
    return row.dmPath || (await this.device(lvName));
  }

  /** The device node of an LV (for saferemove), activating it first when needed. */
  protected async device(lvName: string): Promise<string> {
    // On this machine an active LV's device is in sysfs: no LVM run (a clone reads two).
    if (this.runner === local) {
      const here = await activeLvDevice(this.vg, lvName);
      if (here) return here;
    }
    const row = await this.activeRow(lvName);
    try {
      return await devicePath(row.major, row.minor, row.dmPath, '/sys', this.runner);
    } catch (e) {
      if (e instanceof SysError) throw new StorageError('unavailable', e.message, { cause: e });
      throw e;
    }
  }
}
