// `lvmthin` pools: a volume is a thin LV in vg/thinpool. Snapshots are thin snapshots (no
// copy, no size to guess, independent of their origin: deleting a volume keeps its snapshots),
// and so are clones and restores, at any size at least the source's (grown with lvextend).
import type { Runner } from '../../exec/index.js';
import type { LvmThinPool } from '../../pools/schema.js';
import { exhausted, notFound, outOfRange, StorageError } from '../errors.js';
import type { Capacity, CreateSpec, SnapshotRecord, VolumeRecord } from '../types.js';
import { LvmBackendBase, lvmTraits } from './backend.js';
import { thinBudget, thinCapacity, thinPhysicalRefusal, thinPoolState, lvmSize, type ThinPoolState } from './capacity.js';
import { createThinCmd, createThinSnapshotCmd, extendCmd, tagCmd } from './commands.js';
import type { View } from './lvm.js';
import { snapshotLvName, volumeLvName } from './names.js';
import { parseTags, K, snapshotTags, tag } from './tags.js';

export const lvmThinTraits = lvmTraits([]);

export class LvmThinBackend extends LvmBackendBase<LvmThinPool> {
  readonly traits = lvmThinTraits;

  constructor(pool: LvmThinPool, runner: Runner, nodeId: string) { super(pool, runner, nodeId); }

  private get limits() {
    return { overprovision: this.pool.overprovision, ...(this.pool.dataPercentLimit !== undefined ? { dataPercentLimit: this.pool.dataPercentLimit } : {}) };
  }

  private isSnapshotLv = (r: { tags: string }): boolean => parseTags(r.tags).has(K.snap);

  private poolState(view: View): ThinPoolState {
    const s = thinPoolState(view.rows, this.pool.thinpool, this.isSnapshotLv);
    if (!s) throw new StorageError('unavailable', `thin pool ${this.vg}/${this.pool.thinpool} not found on node ${this.nodeId}`);
    return s;
  }

  protected override healthPool(): string { return this.pool.thinpool; }

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
    return this.createOrAdopt(spec, async () => {
      if (!source) {
        await this.lvm.change(createThinCmd(this.vg, this.pool.thinpool, lvName, size, tags), `creating thin LV ${this.where(lvName)}`);
        return this.createdRecord(spec, size, params);
      }
      // Growing after the snapshot is a second step: until it is done the LV is marked incomplete.
      const grow = size > source.size;
      await this.lvm.change(createThinSnapshotCmd(this.vg, source.lv, lvName, grow ? [...tags, tag(K.incomplete)] : tags, true),
        `creating ${this.where(lvName)} as a thin snapshot of ${source.lv}`);
      return grow ? this.finish(lvName, spec, size, source.size, params) : this.createdRecord(spec, source.size, params);
    });
  }

  /** Completes a volume made from a source: grow it to the requested size, then drop the marker. */
  private async finish(lvName: string, spec: CreateSpec, size: number, current: number, params: Record<string, string>): Promise<VolumeRecord> {
    if (current < size) await this.lvm.change(extendCmd(this.vg, lvName, size), `growing ${this.where(lvName)} to ${size} bytes`);
    await this.lvm.change(tagCmd(this.vg, lvName, [], [tag(K.incomplete)]), `marking ${this.where(lvName)} complete`);
    return this.createdRecord(spec, Math.max(size, current), params);
  }

  async expandVolume(name: string, sizeBytes: number): Promise<VolumeRecord> {
    const lvName = volumeLvName(name);
    const view = await this.lvm.view();
    const rec = this.volumeRecord(view.get(lvName));
    if (!rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    const size = lvmSize(sizeBytes, await this.extentBytes(view));
    if (size <= rec.sizeBytes) return rec;
    this.checkRoom(this.poolState(view), size - rec.sizeBytes, `growing ${name} to ${size} bytes`);
    await this.lvm.change(extendCmd(this.vg, lvName, size), `growing ${this.where(lvName)} to ${size} bytes`);
    return { ...rec, sizeBytes: size };
  }

  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    const snapLv = snapshotLvName(volume, name);
    const view = await this.lvm.view();
    const existing = this.existingSnapshot(view.get(snapLv), volume, name);
    if (existing) return existing;
    const src = this.sourceVolume(view, volume);
    const refused = thinPhysicalRefusal(this.poolState(view), this.limits);
    if (refused) throw exhausted(`pool "${this.pool.id}" on node ${this.nodeId} takes no new snapshots: ${refused}`);
    await this.lvm.change(createThinSnapshotCmd(this.vg, src.row.name, snapLv, snapshotTags(this.pool.id, volume, name, requestName), false),
      `creating thin snapshot ${this.where(snapLv)} of ${src.row.name}`);
    return { volume, name, requestName, sizeBytes: src.row.sizeBytes, createdAt: new Date().toISOString(), ready: true };
  }

  async capacity(): Promise<Capacity> {
    return thinCapacity(this.poolState(await this.lvm.view()), this.limits);
  }
}
