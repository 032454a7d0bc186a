// `iscsi` and `zfs-iscsi` pools: a volume is an LV (the lvm or lvmthin store), an image file
// (the file store) or a zvol (the zfspool store) on a storage host, each store run over the
// host's Runner (SSH, or this machine with `local: true`), exported by LIO as LUN 0 of a target
// of its own (lio.ts). The store is the durable record (LV tags, state files or ZFS user
// properties: volume, snapshots, publications); LIO is made to match it: the first publish exports (a volume never published
// is on no network, and a create costs no LIO change and no save), a publish records the node
// in the store and then adds the node's ACL, an unpublish removes both, a delete unexports
// (when there is anything to remove) before the volume goes.
import type { Runner } from '../../exec/index.js';
import { FileStore } from '../files/store.js';
import { initiatorIqnFor } from '../../node/transports/iscsi-names.js';
import { portalOf } from '../../node/transports/iscsi.js';
import type { IscsiExportPool, IscsiPool, LvmPool, LvmThinPool, ZfsIscsiPool } from '../../pools/schema.js';
import { notFound } from '../errors.js';
import type { LvmBackendBase } from '../lvm/backend.js';
import { LvmThickBackend } from '../lvm/thick.js';
import { LvmThinBackend } from '../lvm/thin.js';
import type {
  Backend, CallOptions, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { ZfsPoolBackend } from '../zfspool/backend.js';
import { ZFS_PARAMS } from '../zfspool/props.js';
import { resolveChap } from './chap.js';
import { iscsiNodeContext } from './context.js';
import { Lio, type Backing } from './lio.js';
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

/** zfs-iscsi: the same, with the ZFS properties a StorageClass may set on its zvols. */
export const zfsIscsiTraits: TypeTraits = { ...iscsiTraits, params: ZFS_PARAMS.filter((p) => p !== 'recordsize') };

/** What the exporter needs of a store: the calls it passes on, any volume's record (complete or
 * not: a delete must find either), and the publication records. The lvm, lvmthin, zfspool and
 * file stores are such stores; what LIO exports of a volume is the exporter's `backingOf`. */
export type ExportedStore = Pick<Backend,
  'createVolume' | 'deleteVolume' | 'getVolume' | 'listVolumes' | 'createSnapshot' | 'deleteSnapshot' | 'getSnapshot' | 'listSnapshots' | 'capacity'> & {
  expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord | undefined>;
  volumeAny(name: string): Promise<VolumeRecord | undefined>;
  publish(name: string, node: string, opts: PublishOptions): Promise<unknown>;
  unpublish(name: string, node?: string): Promise<void>;
};

type StoreAndBacking = { store: ExportedStore; backingOf: (name: string) => Promise<Backing> };

/** A block store's LUN is its volume's device. */
const onDevice = (store: ExportedStore & { stablePath(name: string): Promise<string> }): StoreAndBacking =>
  ({ store, backingOf: async (name) => ({ plugin: 'iblock', device: await store.stablePath(name) }) });

/** The store of an iscsi pool's backing (same id as the pool: LV tags and state files name it). */
export function backingStore(p: IscsiPool, runner: Runner): StoreAndBacking {
  const b = p.backing;
  if (b.type === 'file') {
    const store = new FileStore({ id: p.id, path: b.path, snapshots: b.snapshots }, runner);
    return {
      store,
      backingOf: async (name) => {
        const rec = await store.getVolume(name);
        if (!rec) throw notFound(`volume ${name} does not exist in pool "${p.id}"`);
        return { plugin: 'fileio', file: store.imageOf(name), sizeBytes: rec.sizeBytes };
      },
    };
  }
  return onDevice(lvmStore(p, b, runner));
}

/** The LVM store of an LV backing. */
function lvmStore(p: IscsiPool, b: Exclude<IscsiPool['backing'], { type: 'file' }>, runner: Runner): LvmBackendBase<LvmPool | LvmThinPool> {
  const where = `storage host ${runner.host}`;
  if (b.type === 'lvm') {
    const pool: LvmPool = { id: p.id, type: 'lvm', disable: p.disable, vgname: b.vgname, snapshotSize: b.snapshotSize, saferemove: b.saferemove };
    return new LvmThickBackend(pool, runner, where, true);
  }
  const pool: LvmThinPool = {
    id: p.id, type: 'lvmthin', disable: p.disable, vgname: b.vgname, thinpool: b.thinpool,
    overprovision: b.overprovision, saferemove: b.saferemove,
    ...(b.dataPercentLimit !== undefined ? { dataPercentLimit: b.dataPercentLimit } : {}),
  };
  return new LvmThinBackend(pool, runner, where, true);
}

/** The zfspool store of a zfs-iscsi pool: zvols under its dataset on the storage host. */
export function zvolStore(p: ZfsIscsiPool, runner: Runner): ZfsPoolBackend {
  return new ZfsPoolBackend({ id: p.id, type: 'zfspool', disable: p.disable, pool: p.pool }, runner, runner.host, true);
}

export class IscsiBackend implements Backend {
  readonly traits: TypeTraits;
  private readonly store: ExportedStore;
  private readonly backingOf: (name: string) => Promise<Backing>;
  private readonly lio: Lio;

  constructor(readonly pool: IscsiExportPool, runner: Runner) {
    this.traits = pool.type === 'zfs-iscsi' ? zfsIscsiTraits : iscsiTraits;
    ({ store: this.store, backingOf: this.backingOf } = pool.type === 'zfs-iscsi' ? onDevice(zvolStore(pool, runner)) : backingStore(pool, runner));
    this.lio = new Lio(runner, [...new Set(pool.portals.map((p) => portalOf(p).port))], !!pool.chap);
  }

  createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    return this.store.createVolume(spec);
  }

  async deleteVolume(name: string): Promise<void> {
    if (!(await this.store.volumeAny(name))) return;
    await this.lio.unexport(lunRef(this.pool, name));
    await this.store.deleteVolume(name);
  }

  getVolume(name: string): Promise<VolumeRecord | undefined> { return this.store.getVolume(name); }
  listVolumes(): Promise<VolumeRecord[]> { return this.store.listVolumes(); }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord> {
    // LIO's block backstore reads the size from the device: growing the LV or zvol is enough;
    // a fileio object is told its file's size. The nodes rescan (NodeExpandVolume).
    const rec = await this.store.expandVolume(name, sizeBytes, limitBytes);
    if (!rec) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
    if (this.pool.type === 'iscsi' && this.pool.backing.type === 'file') await this.lio.resize(lunRef(this.pool, name), rec.sizeBytes);
    return rec;
  }

  createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> { return this.store.createSnapshot(volume, name, requestName); }
  deleteSnapshot(volume: string, name: string): Promise<void> { return this.store.deleteSnapshot(volume, name); }
  getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> { return this.store.getSnapshot(volume, name); }
  listSnapshots(): Promise<SnapshotRecord[]> { return this.store.listSnapshots(); }
  capacity(): Promise<Capacity> { return this.store.capacity(); }

  async publish(name: string, node: string, opts: PublishOptions, call?: CallOptions): Promise<Record<string, string>> {
    const chap = await resolveChap(this.pool, call); // a missing secret fails before anything changes
    await this.store.publish(name, node, opts);
    const ref = lunRef(this.pool, name);
    const initiator = initiatorIqnFor(node);
    // The first publish exports, with the ACL in the same save; a later one finds the target
    // complete (export is idempotent, so a publish a crash cut short finishes the export).
    if (await this.lio.exported(ref)) await this.lio.allow(ref, initiator, opts.readonly, chap);
    else await this.lio.exportAndAllow(ref, await this.backingOf(name), initiator, opts.readonly, chap);
    return { target: ref.target, lun: String(ref.lun), portals: this.pool.portals.join(','), initiator };
  }

  async unpublish(name: string, node?: string): Promise<void> {
    const rec = await this.store.volumeAny(name);
    if (!rec) return;
    const ref = lunRef(this.pool, name);
    // The ACL goes whether or not the LV records the node (a publish may have stopped between).
    const nodes = node !== undefined ? [node] : Object.keys(rec.published ?? {});
    for (const n of nodes) await this.lio.deny(ref, initiatorIqnFor(n));
    await this.store.unpublish(name, node);
  }

  nodeContext(rec: VolumeRecord): NodeContext {
    return iscsiNodeContext(this.pool, rec.name);
  }
}
