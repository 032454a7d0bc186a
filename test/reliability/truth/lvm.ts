// Truth for lvm and lvmthin pools: `lvs` of the VG, read directly. LVs are accounted by the tags
// the driver writes (poolcsi.io/pool, vol, snap); LVs that were there before the run are not ours.
import { execFileSync } from 'node:child_process';
import type { Truth, TruthView } from '../core/lane.js';

interface Lv { name: string; tags: Map<string, string>; attr: string }

function decode(v: string): string {
  return Buffer.from(v.replace(/\+([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

export class LvmTruth implements Truth {
  private baseline = new Set<string>();
  constructor(readonly vg: string, readonly pool: string) {}

  lvs(): Lv[] {
    const out = execFileSync('lvs', ['--reportformat', 'json', '-a', '-o', 'lv_name,lv_tags,lv_attr', this.vg], { encoding: 'utf8', env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' } });
    const rows = (JSON.parse(out) as { report: Array<{ lv: Array<Record<string, string>> }> }).report[0]?.lv ?? [];
    return rows.map((r) => {
      const tags = new Map<string, string>();
      for (const t of (r.lv_tags ?? '').split(',')) {
        if (!t.startsWith('poolcsi.io/')) continue;
        const body = t.slice('poolcsi.io/'.length);
        const eq = body.indexOf('=');
        tags.set(eq < 0 ? body : body.slice(0, eq), eq < 0 ? '' : decode(body.slice(eq + 1)));
      }
      return { name: r.lv_name!, tags, attr: r.lv_attr ?? '' };
    });
  }

  /** Remembers the LVs present before the run (the thin pool, other tests' volumes). */
  async init(): Promise<this> {
    this.baseline = new Set(this.lvs().map((l) => l.name));
    return this;
  }

  async read(): Promise<TruthView> {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    for (const lv of this.lvs()) {
      if (this.baseline.has(lv.name) || lv.name.startsWith('[')) continue; // hidden internal LVs: [thin_tdata] ...
      const pool = lv.tags.get('pool');
      if (pool !== undefined && pool !== this.pool) continue;
      if (pool === undefined) { view.strays.push(`LV ${lv.name} without poolcsi tags`); continue; }
      if (lv.tags.has('incomplete') || lv.tags.has('temp')) { view.strays.push(`LV ${lv.name} [${[...lv.tags.keys()].join(',')}]`); continue; }
      const vol = lv.tags.get('vol');
      const snap = lv.tags.get('snap');
      if (!vol) { view.strays.push(`LV ${lv.name} without a volume tag`); continue; }
      if (snap !== undefined) view.snapshots.push(`${vol}@${snap}`); else view.volumes.push(vol);
    }
    return view;
  }
}
