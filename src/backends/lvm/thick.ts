// `lvm` pools: a volume is a thick LV, optionally raid1 (`mirror`) and/or striped.
// Snapshots are classic copy-on-write snapshots sized at `snapshotSize`% of the volume (see
// docs/pools.md for why); restores and clones are full copies into a new LV, a clone copying
// from a temporary snapshot so a volume in use is copied at one point in time.
import type { LvmPool } from '../../pools/schema.js';
import { checkGrowLimit, invalid, notFound, outOfRange, precondition } from '../errors.js';
import type { Capacity, CreateSpec, VolumeRecord } from '../types.js';
import { LvmBackendBase, lvmTraits } from './backend.js';
import { lvmSize, thickCapacity } from './capacity.js';
import {
  copyCmd, createCowSnapshotCmd, createThickCmd, extendCmd, tagCmd, type ThickLayout,
} from './commands.js';
import { cloneSourceLvName, volumeLvName } from './names.js';
import { isCowOrigin, type LvRow } from './report.js';
import type { View } from './lvm.js';
import { K, parseTags, tag } from './tags.js';

export const LVM_PARAMS = ['mirror', 'stripes', 'stripeSize'] as const;
export const lvmThickTraits = lvmTraits(LVM_PARAMS);

/** Time for copying a whole volume (clone, restore). */
const COPY_TIMEOUT_MS = 6 * 3600_000;

/** The layout of a new volume: StorageClass parameters over the pool's settings. */
export function thickLayout(pool: Pick<LvmPool, 'mirror' | 'stripes' | 'stripeSize'>, params: Readonly<Record<string, string>>): ThickLayout {
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = params[key];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!/^[0-9]+$/.test(raw) || n < min || n > max) throw invalid(`parameter ${key}: "${raw}" is not a whole number from ${min} to ${max}`);
    return n;
  };
  const mirror = int('mirror', pool.mirror ?? 0, 0, 4);
  const stripes = int('stripes', pool.stripes ?? 1, 1, 64);
  const stripeSize = params.stripeSize || pool.stripeSize;
  if (stripeSize !== undefined) {
    const m = /^([0-9]+)([kKmM]?)$/.exec(stripeSize);
    const kib = m ? Number(m[1]) * (m[2]?.toLowerCase() === 'm' ? 1024 : 1) : NaN;
    if (!m || kib < 4 || (kib & (kib - 1)) !== 0) throw invalid(`parameter stripeSize: "${stripeSize}" is not a power of two of at least 4k (e.g. 64k)`);
    if (stripes < 2) throw invalid('parameter stripeSize needs stripes of 2 or more');
  }
  if (mirror > 0 && stripes > 1 && mirror !== 1) throw invalid('mirror with stripes makes raid10, which keeps exactly one extra copy: use mirror 1');
  return { mirror, stripes, ...(stripeSize ? { stripeSize } : {}) };
}

/** The layout as recorded in the volume's parameters (only what differs from a plain LV). */
function layoutParams(l: ThickLayout): Record<string, string> {
  return {
    ...(l.mirror ? { mirror: String(l.mirror) } : {}),
    ...(l.stripes > 1 ? { stripes: String(l.stripes) } : {}),
    ...(l.stripeSize ? { stripeSize: l.stripeSize } : {}),
  };
}

export class LvmThickBackend extends LvmBackendBase<LvmPool> {
  readonly traits = lvmThickTraits;

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    const layout = thickLayout(this.pool, spec.params);
    const params = { ...spec.params, ...layoutParams(layout) };
    const lvName = volumeLvName(spec.name);
    const extent = await this.extentBytes();
    const size = lvmSize(spec.sizeBytes, extent, layout.stripes);
    if (spec.limitBytes > 0 && size > spec.limitBytes) {
      throw outOfRange(`${spec.sizeBytes} bytes round up to ${size} (whole ${extent}-byte extents${layout.stripes > 1 ? ` x ${layout.stripes} stripes` : ''}), above limit_bytes ${spec.limitBytes}`);
    }
    const tags = this.newVolumeTags(spec, params);
    // The common case is one lvcreate: no lookup first. LVM refuses an existing name, and
    // only then is the existing LV read (the same request again, or a conflict).
    if (!spec.source) {
      return this.createOrAdopt(spec, async () => {
        await this.lvm.change(createThickCmd(this.vg, lvName, size, layout, tags), `creating LV ${this.where(lvName)}`);
        return this.createdRecord(spec, size, params);
      });
    }
    const view = await this.lvm.view();
    const existing = view.get(lvName);
    if (existing) {
      const found = this.existingFor(spec, existing);
      if ('record' in found) return found.record;
    }
    let from: { lv: string; bytes: number; snapshot: boolean };
    if (spec.source.kind === 'snapshot') {
      const s = this.sourceSnapshot(view, spec.source.volume, spec.source.snapshot);
      from = { lv: s.row.name, bytes: s.snap.sizeBytes, snapshot: true };
    } else {
      const s = this.sourceVolume(view, spec.source.volume);
      from = { lv: s.row.name, bytes: s.row.sizeBytes, snapshot: false };
    }
    if (size < from.bytes) throw outOfRange(`the source holds ${from.bytes} bytes; a volume made from it needs at least that (${spec.sizeBytes} requested)`);
    if (!existing) {
      await this.lvm.change(createThickCmd(this.vg, lvName, size, layout, [...tags, tag(K.incomplete)]), `creating LV ${this.where(lvName)}`);
    }
    await this.copyInto(lvName, from, view.get(cloneSourceLvName(lvName)) !== undefined);
    await this.lvm.change(tagCmd(this.vg, lvName, [], [tag(K.incomplete)]), `marking ${this.where(lvName)} complete`);
    return this.createdRecord(spec, existing?.sizeBytes ?? size, params);
  }

  /** Copies a snapshot, or a volume through a temporary snapshot, into the target LV. */
  private async copyInto(target: string, from: { lv: string; bytes: number; snapshot: boolean }, leftover: boolean): Promise<void> {
    let source = from.lv;
    const temp = cloneSourceLvName(target);
    if (!from.snapshot) {
      if (leftover) await this.removeLv(temp); // left by an interrupted copy
      await this.lvm.change(createCowSnapshotCmd(this.vg, from.lv, temp, this.pool.snapshotSize, [tag(K.pool, this.pool.id), tag(K.temp)]),
        `taking a temporary snapshot ${this.where(temp)} to copy ${from.lv}`);
      source = temp;
    }
    const [src, dst] = [await this.device(source), await this.device(target)];
    await this.lvm.change(copyCmd(src, dst, from.bytes), `copying ${source} into ${this.where(target)}`, COPY_TIMEOUT_MS);
    if (!from.snapshot) await this.removeLv(temp);
  }

  protected override async beforeRemove(row: LvRow): Promise<void> {
    if (!isCowOrigin(row)) return;
    const view = await this.lvm.view();
    const dependents = view.rows.filter((r) => r.origin === row.name);
    const temps = dependents.filter((r) => parseTags(r.tags).has(K.temp));
    for (const t of temps) await this.removeLv(t.name);
    const others = dependents.filter((r) => !temps.includes(r));
    if (others.length) {
      const named = others.map((r) => this.snapshotRecord(r)).map((s, i) => (s ? `${s.volume}@${s.name}` : `LV ${others[i]!.name}`));
      throw precondition(`volume LV ${this.where(row.name)} has copy-on-write snapshots (${named.join(', ')}) that cannot outlive it; delete them first`);
    }
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    const lvName = volumeLvName(name);
    const row = (await this.lvm.view()).get(lvName);
    const rec = this.volumeRecord(row);
    if (!row || !rec?.complete || rec.name !== name) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    const size = lvmSize(sizeBytes, await this.extentBytes(), Number(rec.params.stripes ?? 1));
    if (size <= rec.sizeBytes) return rec;
    checkGrowLimit(name, size, limitBytes);
    if (isCowOrigin(row)) throw precondition(`volume ${name} has copy-on-write snapshots; LVM cannot grow an active snapshot origin. Delete its snapshots first`);
    await this.lvm.change(extendCmd(this.vg, lvName, size), `growing ${this.where(lvName)} to ${size} bytes`);
    return { ...rec, sizeBytes: size };
  }

  protected snapshotCommand(_view: View, origin: string, snapLv: string, tags: readonly string[]) {
    return { cmd: createCowSnapshotCmd(this.vg, origin, snapLv, this.pool.snapshotSize, tags), what: 'copy-on-write snapshot' };
  }

  async capacity(): Promise<Capacity> {
    const vg = await this.lvm.vgInfoIfPresent();
    if (!vg) return { totalBytes: 0, availableBytes: 0, maxVolumeBytes: 0, notes: [`volume group ${this.vg} does not exist on node ${this.nodeId}`] };
    return thickCapacity(vg, this.pool.mirror ?? 0);
  }
}
