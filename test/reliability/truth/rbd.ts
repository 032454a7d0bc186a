// Truth for rbd pools: `rbd ls`, `rbd snap ls --all`, `rbd image-meta get` and `rbd trash ls`,
// read directly with the cluster's admin credentials of the lab node.
import { execFileSync } from 'node:child_process';
import type { Truth, TruthView } from '../core/lane.js';

const rbd = (args: string[]) => execFileSync('rbd', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });

export class RbdTruth implements Truth {
  constructor(readonly pool: string, readonly prefix: string) {}

  /** A view of one moment: an image removed between the listing and its details (by a killed
   * driver's librbd helper or `rbd` finishing its command) starts the reading over. */
  async read(): Promise<TruthView> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return this.readOnce();
      } catch (e) {
        const vanished = /error opening image .*\(2\) No such file or directory/.test(String((e as { stderr?: string }).stderr ?? ''));
        if (!vanished || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private readOnce(): TruthView {
    const view: TruthView = { volumes: [], snapshots: [], strays: [] };
    const images = (JSON.parse(rbd(['ls', '--format', 'json', this.pool])) as string[]).filter((i) => i.startsWith(this.prefix));
    const live = new Set(images);
    for (const img of images) {
      let state: { name?: string; complete?: boolean; deleted?: string } | undefined;
      try { state = JSON.parse(rbd(['image-meta', 'get', `${this.pool}/${img}`, 'poolcsi.io/volume'])) as typeof state; } catch { state = undefined; }
      const snaps = JSON.parse(rbd(['snap', 'ls', '--all', '--format', 'json', `${this.pool}/${img}`])) as Array<{ name: string; namespace?: { type?: string } | string }>;
      const user = snaps.filter((s) => !s.name.startsWith('_') && (typeof s.namespace === 'object' ? s.namespace?.type ?? 'user' : s.namespace ?? 'user') === 'user');
      for (const s of user) view.snapshots.push(`${img}@${s.name}`);
      for (const s of snaps.filter((x) => x.name.startsWith('_poolcsi-clone-'))) {
        if (!live.has(s.name.slice('_poolcsi-clone-'.length))) view.strays.push(`internal snapshot ${img}@${s.name} whose clone is gone`);
      }
      if (!state) view.strays.push(`image ${img} without poolcsi state`);
      // librbd copies a parent's metadata into a clone: a state naming another image is not this one's.
      else if (state.name !== undefined && state.name !== img) view.strays.push(`image ${img} with ${state.name}'s state (a clone cut short)`);
      else if (state.deleted) { if (user.length === 0) view.strays.push(`tombstone ${img} without snapshots`); }
      else if (!state.complete) view.strays.push(`image ${img} not complete`);
      else view.volumes.push(img);
    }
    // Trashed images wait for their clones; once nothing of ours is left, none may remain.
    if (images.length === 0) {
      const trash = JSON.parse(rbd(['trash', 'ls', '--format', 'json', this.pool])) as Array<{ name: string }>;
      for (const t of trash) if (t.name.startsWith(this.prefix)) view.strays.push(`trash ${t.name}`);
    }
    return view;
  }

  async attached(volume: string): Promise<string[]> {
    const m = JSON.parse(rbd(['device', 'list', '--format', 'json'])) as Array<{ image: string; device: string }>;
    return m.filter((x) => x.image === volume).map((x) => x.device);
  }
}
