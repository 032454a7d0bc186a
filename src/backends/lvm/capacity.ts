// Capacity arithmetic, kept pure so it is tested without LVM.
//
// Thick (`lvm`): what the VG has free. A raid1 volume with m extra copies needs (m+1)x its size.
// Thin (`lvmthin`): two limits. The virtual budget (pool size x overprovision, minus the virtual
// sizes already handed out) decides whether a volume may be created at all; snapshots are not
// counted (they only consume what their origin overwrites, which data% shows). The physical
// limit: above dataPercentLimit the pool takes no new volumes, so it reports nothing available.
import type { Capacity } from '../types.js';
import type { LvRow, VgRow } from './report.js';
import { isHidden } from './report.js';

export const roundUp = (n: number, unit: number): number => (unit > 0 ? Math.ceil(n / unit) * unit : n);

/** The size LVM will give an LV of `bytes`: whole extents, and a whole number of extents per stripe. */
export function lvmSize(bytes: number, extentBytes: number, stripes = 1): number {
  return roundUp(Math.max(bytes, 1), extentBytes * Math.max(1, stripes));
}

export function thickCapacity(vg: VgRow, mirror = 0): Capacity {
  const copies = mirror + 1;
  const max = Math.floor(vg.freeBytes / copies / Math.max(vg.extentBytes, 1)) * Math.max(vg.extentBytes, 1);
  return {
    totalBytes: vg.sizeBytes,
    availableBytes: vg.freeBytes,
    maxVolumeBytes: max,
    notes: mirror > 0 ? [`volumes are raid1 with ${mirror} extra cop${mirror === 1 ? 'y' : 'ies'}: each takes ${copies}x its size`] : [],
  };
}

export interface ThinPoolState {
  poolSizeBytes: number;
  dataPercent: number;
  metadataPercent: number;
  /** Sum of the virtual sizes of the pool's thin LVs, CSI snapshots excluded. */
  virtualBytes: number;
}

export interface ThinLimits { overprovision: number; dataPercentLimit?: number }

/** The thin pool as LVM reports it: its row, and the virtual sizes of its volumes. */
export function thinPoolState(rows: readonly LvRow[], pool: string, isSnapshot: (r: LvRow) => boolean): ThinPoolState | undefined {
  const p = rows.find((r) => r.name === pool);
  if (!p) return undefined;
  const virtualBytes = rows.filter((r) => !isHidden(r) && r.pool === pool && !isSnapshot(r)).reduce((s, r) => s + r.sizeBytes, 0);
  return { poolSizeBytes: p.sizeBytes, dataPercent: p.dataPercent ?? 0, metadataPercent: p.metadataPercent ?? 0, virtualBytes };
}

/** Why a thin pool takes no new volume now (undefined: it may), from its physical fill. */
export function thinPhysicalRefusal(s: ThinPoolState, limits: ThinLimits): string | undefined {
  if (limits.dataPercentLimit !== undefined && s.dataPercent >= limits.dataPercentLimit) {
    return `thin pool data is ${s.dataPercent.toFixed(2)}% used, at or above the pool's dataPercentLimit of ${limits.dataPercentLimit}%`;
  }
  if (s.dataPercent >= 100) return 'thin pool data space is full';
  if (s.metadataPercent >= 100) return 'thin pool metadata space is full';
  return undefined;
}

export function thinBudget(s: ThinPoolState, limits: ThinLimits): number {
  return Math.max(0, Math.floor(s.poolSizeBytes * limits.overprovision) - s.virtualBytes);
}

export function thinCapacity(s: ThinPoolState, limits: ThinLimits): Capacity {
  const refused = thinPhysicalRefusal(s, limits);
  const budget = thinBudget(s, limits);
  const used = Math.round((s.poolSizeBytes * s.dataPercent) / 100);
  return {
    totalBytes: Math.floor(s.poolSizeBytes * limits.overprovision),
    availableBytes: refused ? 0 : budget,
    maxVolumeBytes: refused ? 0 : budget,
    notes: [
      `thin pool ${s.poolSizeBytes} bytes, ${used} bytes written (${s.dataPercent.toFixed(2)}%), metadata ${s.metadataPercent.toFixed(2)}%`,
      `virtual sizes handed out: ${s.virtualBytes} of ${Math.floor(s.poolSizeBytes * limits.overprovision)} (overprovision ${limits.overprovision})`,
      ...(refused ? [`no new volumes: ${refused}`] : []),
    ],
  };
}
