// VolumeCondition of an LV, from LVM's own report: the LV and (thin) its pool.
import type { Condition } from './types.js';

/** What health needs of an `lvs` row (backends/lvm/report.ts LvRow has it, as does lvm.ts here). */
export interface LvHealth {
  name: string;
  health: string;
  active: boolean;
  /** -1 when the LV has no device-mapper device. */
  major: number;
  dataPercent?: number;
  metadataPercent?: number;
}

/** A thin pool this full is reported as abnormal on every volume in it. */
export const THIN_NEARLY_FULL_PERCENT = 95;

// lv_health_status values (lvs(8)): raid "partial", "refresh needed", "mismatches exist";
// thin pool "failed", "out_of_data", "metadata_read_only"; thin "failed".
const HEALTH_TEXT: Record<string, string> = {
  partial: 'a raid leg is missing (a PV of the VG is gone): the volume runs degraded',
  'refresh needed': 'a raid leg failed (I/O errors on a PV): the volume runs degraded; repair with lvconvert --repair',
  'mismatches exist': 'raid legs differ (scrubbing found mismatches)',
  failed: 'LVM reports the volume failed',
  out_of_data: 'its thin pool is out of data space: writes fail or queue',
  metadata_read_only: 'its thin pool metadata is read-only',
};

const describe = (h: string) => HEALTH_TEXT[h] ?? `LVM health status "${h}"`;

export function lvCondition(lvId: string, lv: LvHealth | undefined, pool?: LvHealth): Condition {
  if (!lv) return { abnormal: true, message: `LV ${lvId} is missing` };
  const problems: string[] = [];
  if (lv.health) problems.push(describe(lv.health));
  if (!lv.active) problems.push('the LV is not active');
  if (lv.major < 0 && lv.active) problems.push('the LV has no device-mapper device');
  if (pool) {
    if (pool.health) problems.push(`thin pool ${pool.name}: ${describe(pool.health)}`);
    const data = pool.dataPercent ?? 0;
    const meta = pool.metadataPercent ?? 0;
    if (data >= 100) problems.push(`thin pool ${pool.name} is full (data ${data.toFixed(2)}%): writes to unprovisioned blocks fail`);
    else if (data >= THIN_NEARLY_FULL_PERCENT) problems.push(`thin pool ${pool.name} is nearly full (data ${data.toFixed(2)}%)`);
    if (meta >= THIN_NEARLY_FULL_PERCENT) problems.push(`thin pool ${pool.name} metadata is ${meta.toFixed(2)}% used`);
  }
  if (problems.length) return { abnormal: true, message: `LV ${lvId}: ${problems.join('; ')}` };
  const usage = pool ? `; thin pool ${pool.name} ${(pool.dataPercent ?? 0).toFixed(2)}% used` : '';
  return { abnormal: false, message: `LV ${lvId} active and healthy${usage}` };
}
