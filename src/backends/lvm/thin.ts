// `lvmthin` pools: a volume is a thin LV in vg/thinpool. Snapshots are thin snapshots (no
// copy, no size to guess, independent of their origin: deleting a volume keeps its snapshots),
// and so are clones and restores, at any size at least the source's (grown with lvextend).
import type { Runner } from '../../exec/index.js';
import type { LvmThinPool } from '../../pools/schema.js';
import { checkGrowLimit, exhausted, notFound, outOfRange, StorageError } from '../errors.js';
import type { Capacity, CreateSpec, VolumeRecord } from '../types.js';
import { LvmBackendBase, lvmTraits } from './backend.js';
import { thinBudget, thinCapacity, thinPhysicalRefusal, thinPoolState, lvmSize, type ThinPoolState } from './capacity.js';
import { createThinCmd, createThinSnapshotCmd, extendCmd, tagCmd } from './commands.js';
import type { View } from './lvm.js';
import { volumeLvName } from './names.js';
import { isKind } from './errors.js';
import { parseTags, K, tag } from './tags.js';

export const lvmThinTraits = lvmTraits([]);

/**
 * How long the thin pool's accounting (virtual sizes handed out, data%) read by one `lvs` is
 * used for admission checks. The agent keeps it exact for its own creates, growths and deletes;
 * only changes made outside the driver take up to this long to count. Any call that reads the
 * VG anyway (delete, list, snapshot) refreshes it.
 */
export const ACCOUNTING_TTL_MS = 10_000;

export class LvmThinBackend extends LvmBackendBase<LvmThinPool> {
  readonly traits = lvmThinTraits;
  private accounting?: { state: ThinPoolState; at: number };
  /** Admission (check the budget, then create) is one at a time, or two creates could both fit. */
  private admission: Promise<unknown> = Promise.resolve();

  constructor(pool: LvmThinPool, runner: Runner, nodeId: string, shared = false) {
    super(pool, runner, nodeId, shared);
    this.lvm.onFreshView = (view) => {
      const state = thinPoolState(view.rows, this.pool.thinpool, this.isSnapshotLv);
      this.accounting = state ? { state, at: Date.now() } : undefined;
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.admission.then(fn, fn);
    this.admission = run.catch(() => undefined);
    return run;
  }

  /** The pool's state for an admission check: recent accounting, or a fresh read. */
  private async admissionState(): Promise<ThinPoolState> {
    const a = this.accounting;
    if (a && Date.now() - a.at < ACCOUNTING_TTL_MS) return a.state;
    return this.poolState(await this.lvm.view());
  }

  /** Our own change of the virtual sizes handed out (creates, growths, deletes). */
  private account(deltaBytes: number): void {
    if (this.accounting) this.accounting.state = { ...this.accounting.state, virtualBytes: Math.max(0, this.accounting.state.virtualBytes + deltaBytes) };
  }

  private get limits() {
    return { overprovision: this.pool.overprovision, ...(this.pool.dataPercentLimit !== undefined ? { dataPercentLimit: this.pool.dataPercentLimit } : {}) };
  }

  private isSnapshotLv = (r: { tags: string }): boolean => parseTags(r.tags).has(K.snap);

  private poolState(view: View): ThinPoolState {
    const s = thinPoolState(view.rows, this.pool.thinpool, this.isSnapshotLv);
    if (!s) throw new StorageError('unavailable', `thin pool ${this.vg}/${this.pool.thinpool} not found on node ${this.nodeId}`);
    return s;
  }


  /** Refuses growth of `delta` virtual bytes beyond the pool's budget or physical limit. */
  private checkRoom(state: ThinPoolState, delta: number, what: string): void {
    const refused = thinPhysicalRefusal(state, this.limits);
    if (refused) throw exhausted(`pool "${this.pool.id}" on node ${this.nodeId} takes no new volumes: ${refused}`);
    const budget = thinBudget(state, this.limits);
    if (delta > budget) {
      throw exhausted(`pool "${this.pool.id}" on node ${this.nodeId}: ${what} needs ${delta} more virtual bytes, ${budget} left `
        + `(thin pool ${state.poolSizeBytes} bytes x overprovision ${this.pool.overprovision}, ${state.virtualBytes} handed out)`);
    }
  }

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    return this.serial(() => (spec.source ? this.createFromSource(spec) : this.createPlain(spec)));
  }

  /** A new empty thin LV: one lvcreate (LVM refuses an existing name; only then is it read). */
  private async createPlain(spec: CreateSpec): Promise<VolumeRecord> {
    const lvName = volumeLvName(spec.name);
    const extent = await this.extentBytes();
    const size = lvmSize(spec.sizeBytes, extent);
    if (spec.limitBytes > 0 && size > spec.limitBytes) {
      throw outOfRange(`${spec.sizeBytes} bytes round up to ${size} (whole ${extent}-byte extents), above limit_bytes ${spec.limitBytes}`);
    }
    const params = { ...spec.params };
    try {
      this.checkRoom(await this.admissionState(), size, `a ${size}-byte volume`);
    } catch (e) {
      // A retry of a volume made before the pool filled up is still answered.
      const row = isKind(e, 'exhausted') ? await this.lvm.lv(lvName) : undefined;
      if (!row) throw e;
      const found = this.existingFor(spec, row);
      if ('record' in found) return found.record;
      throw e;
    }
    return this.createOrAdopt(spec, async () => {
      await this.lvm.change(createThinCmd(this.vg, this.pool.thinpool, lvName, size, this.newVolumeTags(spec, params)), `creating thin LV ${this.where(lvName)}`);
      this.account(size);
      return this.createdRecord(spec, size, params);
    });
  }

  private async createFromSource(spec: CreateSpec): Promise<VolumeRecord> {
    const lvName = volumeLvName(spec.name);
    const view = await this.lvm.view();
    const extent = await this.extentBytes(view);
    const size = lvmSize(spec.sizeBytes, extent);
    const params = { ...spec.params };
    const existing = view.get(lvName);
    if (existing) {
      const found = this.existingFor(spec, existing);
      if ('record' in found) return found.record;
      return this.finish(lvName, spec, size, existing.sizeBytes, params);
    }
    if (spec.limitBytes > 0 && size > spec.limitBytes) {
      throw outOfRange(`${spec.sizeBytes} bytes round up to ${size} (whole ${extent}-byte extents), above limit_bytes ${spec.limitBytes}`);
    }
    let source: { lv: string; size: number } | undefined;
    if (spec.source?.kind === 'snapshot') {
      const s = this.sourceSnapshot(view, spec.source.volume, spec.source.snapshot);
      source = { lv: s.row.name, size: s.row.sizeBytes };
    } else if (spec.source?.kind === 'volume') {
      const s = this.sourceVolume(view, spec.source.volume);
      source = { lv: s.row.name, size: s.row.sizeBytes };
    }
    if (source && size < source.size) {
      throw outOfRange(`the source holds ${source.size} bytes; a volume made from it needs at least that (${spec.sizeBytes} requested)`);
    }
    this.checkRoom(this.poolState(view), size, `a ${size}-byte volume`);
    const tags = this.newVolumeTags(spec, params);
    if (!source) throw new StorageError('internal', 'createFromSource without a source');
    const from = source;
    return this.createOrAdopt(spec, async () => {
      // Growing after the snapshot is a second step: until it is done the LV is marked incomplete.
      const grow = size > from.size;
      await this.lvm.change(createThinSnapshotCmd(this.vg, from.lv, lvName, grow ? [...tags, tag(K.incomplete)] : tags, true),
        `creating ${this.where(lvName)} as a thin snapshot of ${from.lv}`);
      this.account(from.size);
      return grow ? this.finish(lvName, spec, size, from.size, params) : this.createdRecord(spec, from.size, params);
    });
  }

  /** Completes a volume made from a source: grow it to the requested size, then drop the marker. */
  private async finish(lvName: string, spec: CreateSpec, size: number, current: number, params: Record<string, string>): Promise<VolumeRecord> {
    if (current < size) {
      await this.lvm.change(extendCmd(this.vg, lvName, size), `growing ${this.where(lvName)} to ${size} bytes`);
      this.account(size - current);
    }
    await this.lvm.change(tagCmd(this.vg, lvName, [], [tag(K.incomplete)]), `marking ${this.where(lvName)} complete`);
    return this.createdRecord(spec, Math.max(size, current), params);
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    return this.serial(() => this.expand(name, sizeBytes, limitBytes));
  }

  private async expand(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    const lvName = volumeLvName(name);
    const view = await this.lvm.view();
    const rec = this.volumeRecord(view.get(lvName));
    if (!rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    const size = lvmSize(sizeBytes, await this.extentBytes(view));
    if (size <= rec.sizeBytes) return rec;
    checkGrowLimit(name, size, limitBytes);
    this.checkRoom(this.poolState(view), size - rec.sizeBytes, `growing ${name} to ${size} bytes`);
    await this.lvm.change(extendCmd(this.vg, lvName, size), `growing ${this.where(lvName)} to ${size} bytes`);
    this.account(size - rec.sizeBytes);
    return { ...rec, sizeBytes: size };
  }

  protected snapshotCommand(view: View, origin: string, snapLv: string, tags: readonly string[]) {
    const refused = thinPhysicalRefusal(this.poolState(view), this.limits);
    if (refused) throw exhausted(`pool "${this.pool.id}" on node ${this.nodeId} takes no new snapshots: ${refused}`);
    return { cmd: createThinSnapshotCmd(this.vg, origin, snapLv, tags, false), what: 'thin snapshot' };
  }

  override async deleteVolume(name: string): Promise<void> {
    const row = (await this.lvm.view()).get(volumeLvName(name));
    await super.deleteVolume(name);
    if (row && this.volumeRecord(row)?.name === name) this.account(-row.sizeBytes);
  }

  async capacity(): Promise<Capacity> {
    const view = await this.lvm.view();
    if (view.vgMissing) return { totalBytes: 0, availableBytes: 0, maxVolumeBytes: 0, notes: [`volume group ${this.vg} does not exist on node ${this.nodeId}`] };
    return thinCapacity(this.poolState(view), this.limits);
  }
}
