// Truth for zfspool pools: `zfs list` of the pool's parent dataset (datasets and snapshots with
// the driver's user properties), read directly. A dataset or snapshot is the pool's when its
// poolcsi.io:pool property names it. A deleted volume that still has dependents waits as a trash
// dataset, and a clone's source snapshot lives while the clone does: both are legitimate while
// something depends on them, strays once nothing does.
import { execFileSync } from 'node:child_process';
import type { Truth, TruthView } from '../core/lane.js';

const DS = ['name', 'poolcsi.io:pool', 'poolcsi.io:volume', 'poolcsi.io:complete', 'poolcsi.io:trash'];
const SNAP = ['name', 'clones', 'poolcsi.io:pool', 'poolcsi.io:volume', 'poolcsi.io:snapshot', 'poolcsi.io:snapdeleted', 'poolcsi.io:internal'];

/** A JSON user property ("-" when unset). */
const dec = (v: string | undefined): unknown => {
  if (v === undefined || v === '-' || v === '') return undefined;
  try { return JSON.parse(v); } catch { return undefined; }
};

export class ZfsTruth implements Truth {
  private baseline = new Set<string>();

  /** `parent`: the pool's dataset; `pool`: its id. */
  constructor(readonly parent: string, readonly pool: string) {}

  private list(type: string, columns: string[]): string[][] {
    const out = execFileSync('zfs', ['list', '-H', '-p', '-r', '-t', type, '-o', columns.join(','), this.parent], { encoding: 'utf8', timeout: 120_000 });
    return out.split('\n').filter(Boolean).map((l) => l.split('\t'));
  }

  /** Remembers what was there before the run (the parent itself, other tests' datasets). */
  async init(): Promise<this> {
    this.baseline = new Set(this.list('filesystem,volume', ['name']).map((r) => r[0]!));
    return this;
  }

  async read(): Promise<TruthView> {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    const snaps = this.list('snapshot', SNAP).map(([name, clones, pool, volume, snapshot, deleted, internal]) => ({
      name: name!, dataset: name!.slice(0, name!.indexOf('@')), clones: clones === '-' || clones === '' ? [] : clones!.split(','),
      pool: dec(pool), volume: dec(volume), snapshot: dec(snapshot), deleted: dec(deleted) !== undefined, internal: dec(internal) === true,
    }));
    // A clone's source snapshot carries only poolcsi.io:internal (and its size).
    const ours = snaps.filter((s) => s.pool === this.pool || s.internal);
    for (const s of ours) {
      if (s.internal || s.deleted) {
        // A clone's source, or a snapshot the CO deleted while clones still use it.
        if (s.clones.length === 0) view.strays.push(`snapshot ${s.name} (${s.internal ? 'clone source' : 'deleted'}) without clones`);
      } else if (typeof s.volume === 'string' && typeof s.snapshot === 'string') view.snapshots.push(`${s.volume}@${s.snapshot}`);
      else view.strays.push(`snapshot ${s.name} without a volume and snapshot name`);
    }
    for (const [name, pool, volume, complete, trash] of this.list('filesystem,volume', DS)) {
      if (this.baseline.has(name!)) continue;
      if (dec(pool) !== this.pool) { view.strays.push(`dataset ${name} without the pool's properties`); continue; }
      if (dec(trash) !== undefined) {
        // Waits for its CSI snapshots or for clones of its snapshots.
        const needed = ours.some((s) => s.dataset === name && (s.clones.length > 0 || (!s.internal && !s.deleted)));
        if (!needed) view.strays.push(`trash dataset ${name} that nothing depends on`);
        continue;
      }
      if (dec(complete) !== true) { view.strays.push(`dataset ${name} not complete`); continue; }
      if (typeof dec(volume) !== 'string') { view.strays.push(`dataset ${name} without a volume name`); continue; }
      view.volumes.push(dec(volume) as string);
    }
    return view;
  }
}
