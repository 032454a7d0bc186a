// Truth for iscsi and zfs-iscsi pools whose storage host is this node: the volumes (the lvm
// truth by LV tags, the file truth by state files, or the zfs truth by user properties) and
// LIO's configfs tree, read directly.
// A target or storage object of this pool whose volume is not live is a leaked export; a live
// volume with one and not the other is a half-made export (the CO's retry of the publish must
// have finished it). A live volume with neither was never published (the first publish
// exports). An ACL of the lane's node is its access, which the checker compares with the CO's
// publishes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lunRef } from '../../../src/backends/iscsi/names.js';
import { initiatorIqnFor } from '../../../src/node/transports/iscsi-names.js';
import type { IscsiPool } from '../../../src/pools/schema.js';
import type { Truth, TruthView } from '../core/lane.js';

const CONFIGFS = '/sys/kernel/config/target';
const SESSIONS = '/sys/class/iscsi_session';

const dirs = (d: string): string[] => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : []);

/** The store's own truth: LVs by tag, image files, or a zfspool's datasets. */
export type StoreTruth = Truth & { init(): Promise<unknown> };

export class IscsiTruth implements Truth {

  private readonly initiator: string;

  /** `store`: the volumes' own truth (LvmTruth, FileTruth, ZfsTruth); `pool`: what names the pool's
   * objects (id and iqnPrefix are all lunRef reads); `nodeId`: the node whose ACLs count as access. */
  constructor(private readonly store: StoreTruth, readonly pool: Pick<IscsiPool, 'id' | 'iqnPrefix'>, nodeId: string) {
    this.initiator = initiatorIqnFor(nodeId);
  }

  async init(): Promise<this> {
    await this.store.init();
    return this;
  }

  private ref(volume: string) {
    return lunRef(this.pool as IscsiPool, volume);
  }

  async read(): Promise<TruthView> {
    const view = await this.store.read();
    const live = new Map(view.volumes.map((v) => [v, this.ref(v)]));
    const targets = new Set(dirs(join(CONFIGFS, 'iscsi')).filter((t) => t.startsWith(`${this.pool.iqnPrefix}:`)));
    const objects = new Set(dirs(join(CONFIGFS, 'core')).filter((h) => /^(iblock|fileio)_\d+$/.test(h))
      .flatMap((h) => dirs(join(CONFIGFS, 'core', h))).filter((o) => o.startsWith(`${this.pool.id}.`)));
    const wanted = { targets: new Set([...live.values()].map((r) => r.target)), objects: new Set([...live.values()].map((r) => r.backstore)) };
    for (const t of targets) if (!wanted.targets.has(t)) view.strays.push(`target ${t} without a live volume`);
    for (const o of objects) if (!wanted.objects.has(o)) view.strays.push(`storage object ${o} without a live volume`);
    // The node's access: an ACL for its initiator on the volume's target (with a mapped LUN or
    // without: either lets it log in and see the target).
    view.access = [...live].filter(([, r]) => targets.has(r.target) && existsSync(join(CONFIGFS, 'iscsi', r.target, 'tpgt_1', 'acls', this.initiator))).map(([v]) => v);
    for (const [v, r] of live) {
      if (targets.has(r.target) && !objects.has(r.backstore)) view.strays.push(`volume ${v}: target ${r.target} without its storage object`);
      if (!targets.has(r.target) && objects.has(r.backstore)) view.strays.push(`volume ${v}: storage object ${r.backstore} without its target`);
    }
    return view;
  }

  async fill(volume: string, r: number): Promise<void> {
    await this.store.fill?.(volume, r);
  }

  /** The node's iSCSI sessions to the volume's target (they end with its last unstage). */
  async attached(volume: string): Promise<string[]> {
    const target = this.ref(volume).target;
    return dirs(SESSIONS).filter((s) => {
      try { return readFileSync(join(SESSIONS, s, 'targetname'), 'utf8').trim() === target; } catch { return false; }
    });
  }
}
