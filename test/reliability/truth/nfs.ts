// Truth for nfs pools whose server is this node: the exported directory itself, read on the
// server side (never through the driver's mount). The layout is the backend's
// (src/backends/nfs/layout.ts): volume directories at the top, their state in
// .poolcsi/volumes/<name>.json, snapshot copies in .poolcsi/snapshots/<vol>@<snap>/ with a
// <vol>@<snap>.json beside each. What no complete state accounts for is a stray.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Truth, TruthView } from '../core/lane.js';

const STATE = '.poolcsi';
const ARCHIVE = '.poolcsi-archive';

const list = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);

function readJson<T>(file: string): T | undefined {
  try { return JSON.parse(readFileSync(file, 'utf8')) as T; } catch { return undefined; }
}

export class NfsTruth implements Truth {
  private baseline = new Set<string>();
  constructor(readonly exportPath: string) {}

  /** Remembers what the export held before the run (lost+found, other tests' files). */
  async init(): Promise<this> {
    this.baseline = new Set(list(this.exportPath));
    return this;
  }

  async read(): Promise<TruthView> {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    const volDir = join(this.exportPath, STATE, 'volumes');
    const dirs = new Set<string>();
    for (const f of list(volDir)) {
      if (!f.endsWith('.json')) { view.strays.push(`${STATE}/volumes/${f}`); continue; }
      const s = readJson<{ name?: string; complete?: boolean; dir?: string }>(join(volDir, f));
      if (!s?.name || !s.dir) { view.strays.push(`${STATE}/volumes/${f} (unreadable state)`); continue; }
      dirs.add(s.dir.split('/')[0]!);
      if (!s.complete) { view.strays.push(`volume ${s.name} not complete`); continue; }
      if (!existsSync(join(this.exportPath, s.dir))) { view.strays.push(`volume ${s.name} without its directory ${s.dir}`); continue; }
      view.volumes.push(s.name);
    }
    const snapDir = join(this.exportPath, STATE, 'snapshots');
    const entries = new Set(list(snapDir));
    for (const f of entries) {
      if (f.endsWith('.json')) {
        const key = f.slice(0, -'.json'.length);
        const s = readJson<{ ready?: boolean }>(join(snapDir, f));
        if (!s?.ready) view.strays.push(`snapshot ${key} not ready`);
        else if (!entries.has(key)) view.strays.push(`snapshot ${key} without its copy`);
        else view.snapshots.push(key);
      } else if (!entries.has(`${f}.json`)) view.strays.push(`${STATE}/snapshots/${f} without state`);
    }
    for (const e of list(this.exportPath)) {
      if (e === STATE || this.baseline.has(e) || dirs.has(e)) continue;
      view.strays.push(e === ARCHIVE ? `${ARCHIVE}/ (${list(join(this.exportPath, ARCHIVE)).length} archived; the lane deletes)` : `directory ${e} without a volume`);
    }
    return view;
  }
}
