// Truth for the file store of an iscsi pool (`backing: {type: file}`) on this node: the pool's
// directory tree, read directly. An object is whole when its directory holds exactly its image
// and its state; anything else there (no state, a temp state file, another entry) is a stray.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TruthView } from '../core/lane.js';

const entries = (d: string): string[] => { try { return readdirSync(d); } catch { return []; } };

export class FileTruth {
  private readonly root: string;
  /** `path`: the backing path; `pool`: the pool id (its directory under the path). */
  constructor(path: string, pool: string) { this.root = join(path, pool); }

  async init(): Promise<this> { return this; }

  async read(): Promise<TruthView> {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    for (const top of entries(this.root)) if (top !== 'volumes' && top !== 'snapshots') view.strays.push(`${top} in ${this.root}`);
    for (const area of ['volumes', 'snapshots'] as const) {
      for (const name of entries(join(this.root, area))) {
        const inside = entries(join(this.root, area, name)).sort();
        if (inside.join(',') !== 'disk.img,state.json') { view.strays.push(`${area}/${name} holding [${inside.join(', ')}]`); continue; }
        try {
          JSON.parse(readFileSync(join(this.root, area, name, 'state.json'), 'utf8'));
        } catch (e) {
          view.strays.push(`${area}/${name}: unreadable state (${(e as Error).message})`);
          continue;
        }
        (area === 'volumes' ? view.volumes : view.snapshots).push(name);
      }
    }
    return view;
  }

  /** A few MiB of data at the image's start, so copies have something to carry. */
  async fill(volume: string, r: number): Promise<void> {
    const img = join(this.root, 'volumes', volume, 'disk.img');
    try { writeFileSync(img, Buffer.alloc((1 + Math.floor(r * 4)) * 1024 * 1024, volume), { flag: 'r+' }); } catch { /* gone meanwhile */ }
  }
}
