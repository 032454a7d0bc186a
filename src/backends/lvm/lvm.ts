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
  constructor(readonly rows: readonly LvRow[]) {
    this.byName = new Map(rows.map((r) => [r.name, r]));
  }
  get(name: string): LvRow | undefined { return this.byName.get(name); }
}

export class Lvm {
  constructor(private readonly runner: Runner, readonly vg: string) {}

  /** Runs an LVM command; failures become StorageErrors that say what was being done. */
  async run(p: Program, doing: string, timeoutMs = LVM_TIMEOUT_MS): Promise<string> {
    try {
      return (await this.runner.run(p.program, p.args, { timeoutMs, env: ENV })).stdout;
    } catch (e) {
      throw lvmError(e, doing);
    }
  }

  /** Every LV of the VG (one process). */
  async view(): Promise<View> {
    const out = await this.run(lvsCmd(this.vg), `listing the LVs of volume group ${this.vg}`);
    return new View(parseLvs(out).filter((r) => !isHidden(r)));
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

  async lv(name: string): Promise<LvRow | undefined> {
    return (await this.lvs([name])).get(name);
  }

  async vgInfo(): Promise<VgRow> {
    const rows = parseVgs(await this.run(vgsCmd([this.vg]), `reading volume group ${this.vg}`));
    const row = rows.find((r) => r.name === this.vg);
    if (!row) throw new StorageError('unavailable', `volume group ${this.vg} not found`);
    return row;
  }
}
