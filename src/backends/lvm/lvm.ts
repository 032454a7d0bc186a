// Running LVM programs for one VG: argv from commands.ts, output through report.ts, failures
// through errors.ts. One `lvs` answers a whole backend call (the View), so listing N volumes
// costs one process, not N.
import { ExecError, type Runner } from '../../exec/index.js';
import { StorageError } from '../errors.js';
import { lvsCmd, vgsCmd, type Program } from './commands.js';
import { lvmError } from './errors.js';
import { isHidden, parseLvs, parseVgs, type LvRow, type VgRow } from './report.js';

// LVM warns on stderr about every inherited descriptor; that is noise in our error messages.
const ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };
export const LVM_TIMEOUT_MS = 120_000;

/** The LVs of a VG as read by one `lvs`, indexed by name. */
export class View {
  private readonly byName: Map<string, LvRow>;
  /** `vgMissing`: the VG does not exist on this node, so it holds nothing. */
  constructor(readonly rows: readonly LvRow[], readonly vgMissing = false) {
    this.byName = new Map(rows.map((r) => [r.name, r]));
  }
  get(name: string): LvRow | undefined { return this.byName.get(name); }
}

/**
 * How long one `lvs` of the VG answers later reads. Every change this process makes to the VG
 * drops it (before and after the change), so it only ever hides changes made by others, and
 * for at most this long. It lets one CSI call, which reads the same LVs in several steps
 * (find the volume, check it, act on it), cost one `lvs`.
 */
export const VIEW_TTL_MS = 2000;

/** Whether an LVM failure says the VG does not exist (on this node). */
export function isVgMissing(e: unknown, vg: string): boolean {
  const cause = (e as { cause?: unknown })?.cause;
  const text = cause instanceof ExecError ? cause.stderr : e instanceof StorageError ? e.message : '';
  return text.includes(`Volume group "${vg}" not found`);
}

export class Lvm {
  private generation = 0;
  private cached?: { generation: number; at: number; view: Promise<View> };

  /** Called with every view read while nothing changed the VG from this process. */
  onFreshView?: (view: View) => void;

  constructor(private readonly runner: Runner, readonly vg: string, private readonly ttlMs = VIEW_TTL_MS) {}

  /** Runs an LVM command that reads; failures become StorageErrors that say what was being done. */
  async run(p: Program, doing: string, timeoutMs = LVM_TIMEOUT_MS): Promise<string> {
    try {
      return (await this.runner.run(p.program, p.args, { timeoutMs, env: ENV })).stdout;
    } catch (e) {
      throw lvmError(e, doing);
    }
  }

  /** Runs a command that changes the VG (or an LV's data): the cached view is dropped. */
  async change(p: Program, doing: string, timeoutMs = LVM_TIMEOUT_MS): Promise<string> {
    this.generation++;
    try {
      return await this.run(p, doing, timeoutMs);
    } finally {
      this.generation++;
    }
  }

  /** Every LV of the VG (one process, shared by the reads of the next VIEW_TTL_MS). */
  view(): Promise<View> {
    const c = this.cached;
    if (c && c.generation === this.generation && Date.now() - c.at < this.ttlMs) return c.view;
    const generation = this.generation;
    const view = this.run(lvsCmd(this.vg), `listing the LVs of volume group ${this.vg}`)
      .then((out) => {
        const v = new View(parseLvs(out).filter((r) => !isHidden(r)));
        if (this.generation === generation) this.onFreshView?.(v);
        return v;
      }, (e: unknown) => {
        // A pool without `nodes` is looked for on every node; where its VG is absent it simply
        // holds no volumes (lists and lookups must not fail for the whole cluster).
        if (isVgMissing(e, this.vg)) return new View([], true);
        throw e;
      });
    this.cached = { generation, at: Date.now(), view };
    // A failed read is not remembered.
    view.catch(() => { if (this.cached?.view === view) this.cached = undefined; });
    return view;
  }

  /** The named LVs that exist (missing ones are left out, not an error). */
  async lvs(names: readonly string[]): Promise<View> {
    const p = lvsCmd(this.vg, names);
    try {
      return new View(parseLvs((await this.runner.run(p.program, p.args, { timeoutMs: LVM_TIMEOUT_MS, env: ENV })).stdout));
    } catch (e) {
      // lvs exits 5 when any name is missing, and still reports the others.
      if (e instanceof ExecError && e.reason === 'exit' && /failed to find logical volume/i.test(e.stderr)) {
        try { return new View(parseLvs(e.stdout)); } catch { return new View([]); }
      }
      throw lvmError(e, `reading LVs ${names.join(', ')} of volume group ${this.vg}`);
    }
  }

  /** One LV, read now (not from the cached view). */
  async lv(name: string): Promise<LvRow | undefined> {
    return (await this.lvs([name])).get(name);
  }

  /** The VG's sizes, or undefined when the VG does not exist on this node. */
  async vgInfoIfPresent(): Promise<VgRow | undefined> {
    try {
      return await this.vgInfo();
    } catch (e) {
      if (isVgMissing(e, this.vg)) return undefined;
      throw e;
    }
  }

  async vgInfo(): Promise<VgRow> {
    const rows = parseVgs(await this.run(vgsCmd([this.vg]), `reading volume group ${this.vg}`));
    const row = rows.find((r) => r.name === this.vg);
    if (!row) throw new StorageError('unavailable', `volume group ${this.vg} not found`);
    return row;
  }
}
