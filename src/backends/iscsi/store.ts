// `iscsi` pools: a volume is a thin LV on a storage host (the lvmthin backend, unchanged, over
// the host's Runner: SSH, or this machine with `local: true`), exported by LIO as LUN 0 of a
// target of its own (lio.ts). The LV's tags stay the durable record (volume, snapshots,
// publications); LIO is made to match them: a create exports after the LV exists (a retry
// exports again), a delete unexports before the LV goes, a publish records the node on the LV
// and then adds the node's ACL, an unpublish removes both.
import type { Runner } from '../../exec/index.js';
import { initiatorIqnFor } from '../../node/transports/iscsi-names.js';
import { portalOf } from '../../node/transports/iscsi.js';
import type { IscsiPool, LvmThinPool } from '../../pools/schema.js';
import { notFound } from '../errors.js';
import { LvmThinBackend } from '../lvm/thin.js';
import { volumeLvName } from '../lvm/names.js';
import type { LvRow } from '../lvm/report.js';
import type { CallOptions, CreateSpec, NodeContext, PublishOptions, TypeTraits, VolumeRecord } from '../types.js';
import { resolveChap } from './chap.js';
import { iscsiNodeContext } from './context.js';
import { Lio } from './lio.js';
import { lunRef } from './names.js';

export const iscsiTraits: TypeTraits = {
  local: false,
  modes: ['filesystem', 'block'],
  snapshots: true,
  clones: true,
  expand: true,
  makesFilesystem: true,
  nodeExpand: true,
  // A filesystem on a LUN two nodes mount at once would be corrupted; raw block is for
  // clustered users (KubeVirt live migration).
  multiNode: { filesystem: false, block: true },
  params: [],
};

/** The lvmthin pool the backing is (same id: the LV tags name the iscsi pool). */
export function backingPool(p: IscsiPool): LvmThinPool {
  return {
    id: p.id, type: 'lvmthin', disable: p.disable, vgname: p.backing.vgname, thinpool: p.backing.thinpool,
    overprovision: p.backing.overprovision, saferemove: p.backing.saferemove,
    ...(p.backing.dataPercentLimit !== undefined ? { dataPercentLimit: p.backing.dataPercentLimit } : {}),
  };
}

export class IscsiBackend extends LvmThinBackend {
  override readonly traits = iscsiTraits;
  private readonly lio: Lio;

  constructor(readonly iscsi: IscsiPool, runner: Runner) {
    super(backingPool(iscsi), runner, `storage host ${runner.host}`);
    this.lio = new Lio(runner, [...new Set(iscsi.portals.map((p) => portalOf(p).port))], !!iscsi.chap);
  }

  // Shared volumes: no record names a node.
  protected override volumeRecord(row: LvRow | undefined): VolumeRecord | undefined {
    const r = super.volumeRecord(row);
    if (r) delete r.node;
    return r;
  }

  protected override createdRecord(spec: CreateSpec, sizeBytes: number, params: Record<string, string>): VolumeRecord {
    const r = super.createdRecord(spec, sizeBytes, params);
    delete r.node;
    return r;
  }

  override async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    const rec = await super.createVolume(spec);
    await this.exportLv(rec.name);
    return rec;
  }

  private async exportLv(name: string): Promise<void> {
    const lvName = volumeLvName(name);
    // LVM's /dev/mapper name survives reboots (dm-N numbers do not), and LIO saves the path.
    const row = await this.activeRow(lvName);
    await this.lio.export(lunRef(this.iscsi, name), row.dmPath || (await this.device(lvName)));
  }

  override async deleteVolume(name: string): Promise<void> {
    const rec = await this.getVolumeAny(name);
    if (!rec) return;
    await this.lio.unexport(lunRef(this.iscsi, name));
    await super.deleteVolume(name);
  }

  /** The volume complete or half made (a delete removes both). */
  private async getVolumeAny(name: string): Promise<VolumeRecord | undefined> {
    const rec = this.volumeRecord((await this.lvm.view()).get(volumeLvName(name)));
    return rec?.name === name ? rec : undefined;
  }

  override async publish(name: string, node: string, opts: PublishOptions, call?: CallOptions): Promise<Record<string, string>> {
    const chap = await resolveChap(this.iscsi, call); // a missing secret fails before anything changes
    await super.publish(name, node, opts);
    const ref = lunRef(this.iscsi, name);
    // A create interrupted after the LV was made but before LIO was: export again (idempotent).
    if (!(await this.lio.exported(ref))) await this.exportLv(name);
    const initiator = initiatorIqnFor(node);
    await this.lio.allow(ref, initiator, opts.readonly, chap);
    return { target: ref.target, lun: String(ref.lun), portals: this.iscsi.portals.join(','), initiator };
  }

  override async unpublish(name: string, node?: string): Promise<void> {
    const rec = await this.getVolumeAny(name);
    if (!rec) return;
    const ref = lunRef(this.iscsi, name);
    // The ACL goes whether or not the LV records the node (a publish may have stopped between).
    const nodes = node !== undefined ? [node] : Object.keys(rec.published ?? {});
    for (const n of nodes) await this.lio.deny(ref, initiatorIqnFor(n));
    await super.unpublish(name, node);
  }

  override async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    // LIO's block backstore reads the size from the device: growing the LV is enough here;
    // the nodes rescan (NodeExpandVolume).
    const rec = await super.expandVolume(name, sizeBytes, limitBytes);
    if (!rec) throw notFound(`volume ${name} does not exist in pool "${this.iscsi.id}"`);
    return rec;
  }

  override nodeContext(rec: VolumeRecord): NodeContext {
    return iscsiNodeContext(this.iscsi, rec.name);
  }
}
