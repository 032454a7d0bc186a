// `lvm`: the volume is an LV of a VG on this node (lvm and lvmthin pools).
//   lvm.vg        the volume group
//   lvm.lv        the LV
//   lvm.thinpool  (lvmthin) the thin pool, whose fill level counts for the volume's condition
// An LV that is active already is found in sysfs by its device-mapper name (sys/dm.ts), without
// running LVM; otherwise it is activated (lvchange -ay -K) and its device found from the kernel
// numbers LVM reports (device.ts): no udev symlink is needed.
import { ExecError, type Runner } from '../../exec/index.js';
import { devicePath } from '../../sys/device.js';
import { activeLvDevice } from '../../sys/dm.js';
import { NodeError } from '../errors.js';
import { SysError } from '../../sys/errors.js';
import { checkKeys, checkValue, isValidLvName, isValidVgName } from './grammar.js';
import { lvCondition, type LvHealth } from './lvm-health.js';
import { HEALTH_TTL_MS, type Attached, type Condition, type Descriptor, type Stashed, type Transport } from './types.js';

const ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };
const TIMEOUT_MS = 120_000;
export const NODE_LV_FIELDS = [
  'lv_name', 'lv_active', 'lv_attr', 'lv_kernel_major', 'lv_kernel_minor', 'lv_dm_path', 'lv_health_status', 'data_percent', 'metadata_percent',
] as const;

export interface NodeLvRow extends LvHealth { dmPath: string; minor: number }

export { HEALTH_TTL_MS };

/** `lvs` of the named LVs, reporting only what the node needs. */
export function nodeLvsArgs(vg: string, lvs: readonly string[]): string[] {
  return ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', NODE_LV_FIELDS.join(','), ...lvs.map((l) => `${vg}/${l}`)];
}

/** Activation, also when the LV has activation skip set (-K). */
export function activateArgs(vg: string, lv: string): string[] {
  return ['-q', '-a', 'y', '-K', `${vg}/${lv}`];
}

const pct = (v: string | undefined): number | undefined => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v));
const num = (v: string | undefined): number => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? -1 : Number(v));

export function parseNodeLvs(json: string): NodeLvRow[] {
  let doc: { report?: Array<{ lv?: Array<Record<string, string>> }> };
  try { doc = JSON.parse(json); } catch (e) { throw new NodeError('internal', `lvs printed no JSON: ${(e as Error).message}`); }
  if (!Array.isArray(doc.report)) throw new NodeError('internal', 'lvs report has no "report" list');
  return doc.report.flatMap((r) => r.lv ?? []).map((r) => ({
    name: r.lv_name ?? '',
    active: r.lv_active === 'active' || r.lv_attr?.[4] === 'a',
    major: num(r.lv_kernel_major),
    minor: num(r.lv_kernel_minor),
    dmPath: r.lv_dm_path ?? '',
    health: r.lv_health_status ?? '',
    ...(pct(r.data_percent) !== undefined ? { dataPercent: pct(r.data_percent)! } : {}),
    ...(pct(r.metadata_percent) !== undefined ? { metadataPercent: pct(r.metadata_percent)! } : {}),
  }));
}

export class LvmTransport implements Transport {
  private readonly reports = new Map<string, { at: number; rows: Promise<NodeLvRow[]> }>();

  readonly kind = 'lvm';

  constructor(private readonly runner: Runner, private readonly sysfs = '/sys') {}

  parse(d: Descriptor): Descriptor {
    checkKeys(d, this.kind, ['vg', 'lv', 'thinpool']);
    const out: Record<string, string> = {
      vg: checkValue(d, 'vg', 'lvm.vg', isValidVgName, 'a volume group name'),
      lv: checkValue(d, 'lv', 'lvm.lv', isValidLvName, 'an LV name'),
    };
    if (d.thinpool !== undefined) out.thinpool = checkValue(d, 'thinpool', 'lvm.thinpool', isValidLvName, 'an LV name');
    return out;
  }

  /** The named LVs that exist (lvs exits 5 when one is missing, and still reports the others);
   * no names: every LV of the VG. */
  private async lvs(vg: string, names: readonly string[]): Promise<NodeLvRow[]> {
    const args = names.length ? nodeLvsArgs(vg, names) : [...nodeLvsArgs(vg, []), vg];
    try {
      return parseNodeLvs((await this.runner.run('lvs', args, { timeoutMs: TIMEOUT_MS, env: ENV })).stdout);
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit' && /failed to find logical volume|volume group "[^"]*" not found/i.test(e.stderr)) {
        try { return parseNodeLvs(e.stdout); } catch { return []; }
      }
      throw lvmFailure(e, `reading LV ${vg}/${names.join(', ')}`);
    }
  }

  async attach(raw: Descriptor): Promise<Attached> {
    const d = this.parse(raw);
    const vg = d.vg!;
    const lv = d.lv!;
    this.reports.delete(vg);
    // Active already (a create activates it): its device from sysfs, no LVM run.
    const here = await activeLvDevice(vg, lv, this.sysfs);
    if (here) return { kind: 'device', path: here, stash: {} };
    let row = (await this.lvs(vg, [lv])).find((r) => r.name === lv);
    if (!row) throw new NodeError('not-found', `LV ${vg}/${lv} does not exist on this node`);
    if (!row.active || row.major < 0) {
      try {
        await this.runner.run('lvchange', activateArgs(vg, lv), { timeoutMs: TIMEOUT_MS, env: ENV });
      } catch (e) {
        throw lvmFailure(e, `activating ${vg}/${lv}`);
      }
      row = (await this.lvs(vg, [lv])).find((r) => r.name === lv);
      if (!row) throw new NodeError('not-found', `LV ${vg}/${lv} disappeared while being activated`);
    }
    try {
      return { kind: 'device', path: await devicePath(row.major, row.minor, row.dmPath), stash: {} };
    } catch (e) {
      throw lvmFailure(e, `finding the device of ${vg}/${lv}`);
    }
  }

  /** Every LV of the VG, one `lvs` shared for HEALTH_TTL_MS (and by the callers meanwhile). */
  private report(vg: string): Promise<NodeLvRow[]> {
    const c = this.reports.get(vg);
    if (c && Date.now() - c.at < HEALTH_TTL_MS) return c.rows;
    const rows = this.lvs(vg, []);
    this.reports.set(vg, { at: Date.now(), rows });
    // A failed report is not kept.
    rows.catch(() => { if (this.reports.get(vg)?.rows === rows) this.reports.delete(vg); });
    return rows;
  }

  /** LVs stay active after unstage: deactivating buys nothing on a node that may stage them again. */
  async detach(): Promise<void> { /* nothing */ }

  async condition(s: Stashed): Promise<Condition> {
    const { vg, lv, thinpool } = s.descriptor;
    const rows = await this.report(vg!);
    return lvCondition(`${vg}/${lv}`, rows.find((r) => r.name === lv), thinpool ? rows.find((r) => r.name === thinpool) : undefined);
  }
}

function lvmFailure(e: unknown, doing: string): NodeError {
  if (e instanceof NodeError) return e;
  if (e instanceof SysError) return new NodeError('unavailable', e.message, { cause: e });
  if (e instanceof ExecError) {
    const detail = e.stderr.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ') || e.message;
    return new NodeError(e.reason === 'timeout' ? 'unavailable' : e.reason === 'not-found' ? 'precondition' : 'internal', `${doing}: ${detail}`, { cause: e });
  }
  return new NodeError('internal', `${doing}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
