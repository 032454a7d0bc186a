// Parsing `lvs`/`vgs --reportformat json --units b --nosuffix`: every value is a string;
// sizes are plain byte counts, percentages "12.34" or "" (not applicable / inactive).
// The fixtures in test/fixtures/lvm/ are recorded from real LVM 2.03 runs.

export const LV_FIELDS = [
  'lv_name', 'vg_name', 'lv_size', 'lv_tags', 'lv_attr', 'pool_lv', 'origin', 'origin_size',
  'data_percent', 'metadata_percent', 'lv_dm_path', 'lv_kernel_major', 'lv_kernel_minor',
  'lv_health_status', 'lv_active', 'segtype', 'lv_time', 'lv_snapshot_invalid', 'lv_device_open', 'vg_extent_size',
] as const;

export const VG_FIELDS = ['vg_name', 'vg_size', 'vg_free', 'vg_extent_size', 'vg_extent_count', 'vg_free_count', 'pv_count', 'lv_count'] as const;

export interface LvRow {
  name: string;
  vg: string;
  sizeBytes: number;
  tags: string;
  attr: string;
  pool: string;
  origin: string;
  originSizeBytes: number;
  /** undefined when LVM reports none (not a thin/snapshot LV, or inactive). */
  dataPercent?: number;
  metadataPercent?: number;
  dmPath: string;
  /** -1 when inactive. */
  major: number;
  minor: number;
  health: string;
  active: boolean;
  segtype: string;
  createdAt?: string;
  snapshotInvalid: boolean;
  open: boolean;
  extentBytes: number;
}

export interface VgRow {
  name: string;
  sizeBytes: number;
  freeBytes: number;
  extentBytes: number;
  pvCount: number;
  lvCount: number;
}

export class ReportError extends Error {
  constructor(message: string) { super(message); this.name = 'ReportError'; }
}

type Raw = Record<string, string | undefined>;

function rows(json: string, section: 'lv' | 'vg'): Raw[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ReportError(`LVM report is not JSON: ${(e as Error).message}`);
  }
  const reports = (doc as { report?: Array<Record<string, unknown>> }).report;
  if (!Array.isArray(reports)) throw new ReportError('LVM report has no "report" list');
  const out: Raw[] = [];
  for (const r of reports) {
    const list = r[section];
    if (Array.isArray(list)) out.push(...(list as Raw[]));
  }
  return out;
}

const int = (v: string | undefined): number => {
  const n = Number(v ?? '');
  return v === undefined || v === '' || !Number.isFinite(n) ? 0 : Math.round(n);
};
const pct = (v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/** "2026-11-21 06:06:05 +0000" → ISO 8601. */
export function parseLvTime(t: string | undefined): string | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-])(\d\d)(\d\d)$/.exec(t ?? '');
  if (!m) return undefined;
  const d = new Date(`${m[1]}T${m[2]}${m[3]}${m[4]}:${m[5]}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function parseLvs(json: string): LvRow[] {
  return rows(json, 'lv').map((r) => ({
    name: r.lv_name ?? '',
    vg: r.vg_name ?? '',
    sizeBytes: int(r.lv_size),
    tags: r.lv_tags ?? '',
    attr: r.lv_attr ?? '',
    pool: r.pool_lv ?? '',
    origin: r.origin ?? '',
    originSizeBytes: int(r.origin_size),
    ...(pct(r.data_percent) !== undefined ? { dataPercent: pct(r.data_percent)! } : {}),
    ...(pct(r.metadata_percent) !== undefined ? { metadataPercent: pct(r.metadata_percent)! } : {}),
    dmPath: r.lv_dm_path ?? '',
    major: r.lv_kernel_major === undefined || r.lv_kernel_major === '' ? -1 : Number(r.lv_kernel_major),
    minor: r.lv_kernel_minor === undefined || r.lv_kernel_minor === '' ? -1 : Number(r.lv_kernel_minor),
    health: r.lv_health_status ?? '',
    active: r.lv_active === 'active' || r.lv_attr?.[4] === 'a',
    segtype: r.segtype ?? '',
    ...(parseLvTime(r.lv_time) ? { createdAt: parseLvTime(r.lv_time)! } : {}),
    // "snapshot invalid", "" or "unknown" (not a snapshot); "open", "" or "unknown" (inactive).
    snapshotInvalid: r.lv_snapshot_invalid === 'snapshot invalid' || r.lv_attr?.[4] === 'I',
    open: r.lv_device_open === 'open' || r.lv_attr?.[5] === 'o',
    extentBytes: int(r.vg_extent_size),
  }));
}

export function parseVgs(json: string): VgRow[] {
  return rows(json, 'vg').map((r) => ({
    name: r.vg_name ?? '',
    sizeBytes: int(r.vg_size),
    freeBytes: int(r.vg_free),
    extentBytes: int(r.vg_extent_size),
    pvCount: int(r.pv_count),
    lvCount: int(r.lv_count),
  }));
}

/** Internal LVs ([thin_tdata], [r1_rimage_0]...) that `lvs -a` lists in brackets. */
export const isHidden = (r: LvRow): boolean => r.name.startsWith('[');
/** A thin pool (attr type 't'). */
export const isThinPool = (r: LvRow): boolean => r.segtype === 'thin-pool' || r.attr[0] === 't';
/** A thick LV that has copy-on-write snapshots (attr type 'o'). */
export const isCowOrigin = (r: LvRow): boolean => r.attr[0] === 'o';
/** A classic (copy-on-write) snapshot (attr type 's' or 'S'). */
export const isCowSnapshot = (r: LvRow): boolean => r.attr[0] === 's' || r.attr[0] === 'S';
/** Activation skip set (attr 10th char 'k'): thin snapshots are created that way. */
export const skipsActivation = (r: LvRow): boolean => r.attr[9] === 'k';
