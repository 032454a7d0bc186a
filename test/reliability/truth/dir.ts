// Truth for `dir` pools: the pool directory's tree, read directly. Every entry under the
// pool's second level is accounted to a volume or snapshot by its name (`<name>`, `<name>.json`,
// `<vol>@<snap>`, ...); what matches no volume or snapshot name, or looks temporary, is a stray.
import { readdir, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Truth, TruthView } from '../core/lane.js';

const STATE = /\.json$/;
const TEMP = /\.tmp$|\.partial$|\.new$|^\.|~$/;

export class DirTruth implements Truth {
  constructor(readonly path: string) {}

  async read(): Promise<TruthView> {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    const top = await readdir(this.path).catch(() => [] as string[]);
    for (const area of top) {
      const full = join(this.path, area);
      if (!(await stat(full)).isDirectory()) { view.strays.push(area); continue; }
      if (area !== 'volumes' && area !== 'snapshots') {
        // A layout with more areas (a state directory, a trash): report what is inside.
        for (const e of await readdir(full)) view.strays.push(`${area}/${e}`);
        continue;
      }
      const entries = await readdir(full);
      const names = new Set<string>();
      for (const e of entries) {
        if (TEMP.test(e)) { view.strays.push(`${area}/${e}`); continue; }
        names.add(e.replace(STATE, ''));
      }
      for (const n of names) {
        const problem = await this.objectProblem(full, n, entries);
        if (problem) { view.strays.push(`${area}/${n} (${problem})`); continue; }
        (area === 'volumes' ? view.volumes : view.snapshots).push(n);
      }
    }
    return view;
  }

  /**
   * Why `<area>/<name>` is not a whole object, or undefined when it is. Two layouts are known:
   * `<name>/` + `<name>.json` side by side, and `<name>/data/` + `<name>/state.json` inside.
   */
  private async objectProblem(area: string, n: string, entries: string[]): Promise<string | undefined> {
    const hasDir = entries.includes(n);
    let stateFile = entries.includes(`${n}.json`) ? join(area, `${n}.json`) : undefined;
    const extra: string[] = [];
    if (hasDir && !stateFile) {
      const inner = await readdir(join(area, n)).catch(() => [] as string[]);
      if (inner.includes('state.json')) {
        stateFile = join(area, n, 'state.json');
        if (!inner.includes('data')) return 'state without data';
        extra.push(...inner.filter((e) => e !== 'state.json' && e !== 'data'));
      }
    }
    if (!stateFile) return hasDir ? 'data without state' : 'nothing';
    if (!hasDir) return 'state without data';
    if (extra.length) return `extra entries ${extra.join(', ')}`;
    let state: Record<string, unknown>;
    try { state = JSON.parse(await readFile(stateFile, 'utf8')) as Record<string, unknown>; } catch (e) { return `unreadable state: ${(e as Error).message}`; }
    if (state.complete === false || state.ready === false) return 'state says incomplete';
    if (state.deleting) return 'state says deleting';
    return undefined;
  }

  /** Some files (up to ~8 MiB, many small ones) so cp -a takes long enough to be killed in. */
  async fill(volume: string, r: number): Promise<void> {
    let dir = join(this.path, 'volumes', volume, 'data');
    try { await stat(dir); } catch { dir = join(this.path, 'volumes', volume); }
    try { await stat(dir); } catch { return; }
    const sub = join(dir, 'rel-data');
    await mkdir(sub, { recursive: true });
    const files = 20 + Math.floor(r * 200);
    const chunk = Buffer.alloc(32 * 1024, volume);
    for (let i = 0; i < files; i++) await writeFile(join(sub, `f${i}`), chunk);
  }
}
