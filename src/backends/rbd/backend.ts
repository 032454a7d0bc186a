// The `rbd` pool: a volume is an RBD image named after the volume, its state in image
// metadata (state.ts). Snapshots are RBD snapshots; restores and volume clones are clone v2
// children (copy-on-write, instant), flattened in the background past `maxCloneDepth`.
// Deleting:  an image with CSI snapshots left is kept as a tombstone until the last one goes;
//            an image that clones still read moves to the RBD trash and is purged when the
//            last of them is deleted or flattened.
// The controller runs rbd/ceph itself (shared pool); the node maps images with krbd.
import type { Runner } from '../../exec/index.js';
import { logger } from '../../observe/log.js';
import { RBD_FEATURES, type RbdPool } from '../../pools/schema.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { exists, invalid, notFound, outOfRange, StorageError } from '../errors.js';
import type { SecretSource } from '../secrets.js';
import type {
  Backend, CallOptions, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { CephCli } from './cli.js';
import { resolveCephx, withKeyfile, type Cephx } from './credentials.js';
import { Flattener } from './flatten.js';
import { Images } from './images.js';
import { rbdNodeContext } from './context.js';
import { purgeParents, removeImage, sweepTrash } from './trash.js';
import type { ImageInfo } from './report.js';
import {
  cloneSnapName, encodeState, FLATTEN_KEY, isInternalSnap, readState, SNAP_REQUEST_PREFIX, snapRequest, STATE_KEY, toRecord, userSnaps,
  type VolumeState,
} from './state.js';

export const rbdTraits: TypeTraits = {
  local: false,
  modes: ['filesystem', 'block'],
  snapshots: true,
  clones: true,
  expand: true,
  makesFilesystem: true,
  nodeExpand: true,
  // RWX block for KubeVirt live migration; a filesystem on two nodes would be corrupted.
  multiNode: { filesystem: false, block: true },
  params: ['imageFeatures', 'dataPool'],
};

const MiB = 1024 * 1024;
/** krbd refuses parent chains longer than 16; stay below while a flatten catches up. */
const HARD_DEPTH = 15;

/** Image size for a request: whole MiB when the limit allows, whole sectors otherwise. */
export function imageSize(required: number, limit: number): number {
  let size = Math.max(MiB, Math.ceil(required / MiB) * MiB);
  if (limit > 0 && size > limit) size = Math.ceil(required / 512) * 512;
  if (limit > 0 && (size > limit || size === 0)) throw outOfRange(`no size between ${required} and ${limit} bytes is a whole number of 512-byte sectors`);
  return size;
}

/** imageFeatures from a StorageClass (comma list) or the pool, checked as the schema does. */
export function imageFeatures(param: string | undefined, pool: readonly string[]): string[] {
  const list = param === undefined ? [...pool] : param.split(',').map((f) => f.trim()).filter(Boolean);
  const bad = list.filter((f) => !(RBD_FEATURES as readonly string[]).includes(f));
  if (bad.length) throw invalid(`imageFeatures: ${bad.join(', ')} not supported (krbd maps ${RBD_FEATURES.join(', ')})`);
  if (!list.includes('layering')) throw invalid('imageFeatures must include layering (snapshots and clones need it)');
  if (list.includes('object-map') && !list.includes('exclusive-lock')) throw invalid('imageFeatures: object-map needs exclusive-lock');
  if (list.includes('fast-diff') && !list.includes('object-map')) throw invalid('imageFeatures: fast-diff needs object-map');
  return list;
}

interface Described { info: ImageInfo; meta: Record<string, string>; state?: VolumeState }

export class RbdBackend implements Backend {
  readonly traits = rbdTraits;
  private readonly flattener: Flattener;
  /** Immutable facts of snapshots seen before, by image id @ snapshot id (see listSnapshots). */
  private readonly snapFacts = new Map<string, { createdAt: string; request: string }>();

  constructor(readonly pool: RbdPool, private readonly runner: Runner, private readonly nodeId: string, private readonly secrets?: SecretSource) {
    this.flattener = new Flattener({
      poolId: pool.id,
      open: (cred, fn) => this.open(cred, fn),
      afterFlatten: (img, parent) => purgeParents(img, parent, this.log),
    });
  }

  private get log() { return logger().child({ pool: this.pool.id }); }

  private open<T>(cred: Cephx, fn: (img: Images) => Promise<T>): Promise<T> {
    return withKeyfile(cred, (keyfile) => fn(new Images(new CephCli(this.runner, this.pool, {
      monhost: this.pool.monhost, user: cred.user, keyfile, timeoutSeconds: this.pool.timeoutSeconds,
    }))));
  }

  /** One operation with the call's credentials. `controller` work also resumes owed flattens. */
  private async session<T>(call: CallOptions | undefined, fn: (img: Images, cred: Cephx) => Promise<T>, controller = true): Promise<T> {
    const cred = await resolveCephx(this.pool, call, this.secrets);
    return this.open(cred, async (img) => {
      if (controller) this.flattener.resume(cred);
      return fn(img, cred);
    });
  }

  private async describe(img: Images, name: string): Promise<Described | undefined> {
    const [info, meta] = await Promise.all([img.info(name), img.meta(name)]);
    if (!info) return undefined;
    const state = readState(meta, name);
    return { info, meta: meta ?? {}, ...(state ? { state } : {}) };
  }

  /** Clone-chain depth: how many parents up to an image without one. */
  private async depth(img: Images, info: ImageInfo): Promise<number> {
    let d = 0;
    let p = info.parent;
    while (p && d <= HARD_DEPTH + 1) {
      d++;
      if (p.pool !== img.pool) break; // poolcsi clones within a pool; a foreign parent ends the walk
      p = (p.id ? await img.infoById(p.id) : await img.info(p.image))?.parent;
    }
    return d;
  }

  // ---- volumes ----------------------------------------------------------------------------

  async createVolume(spec: CreateSpec, call?: CallOptions): Promise<VolumeRecord> {
    const features = imageFeatures(spec.params.imageFeatures, this.pool.imageFeatures);
    const dataPool = spec.params.dataPool ?? this.pool.dataPool;
    if (dataPool !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(dataPool)) throw invalid(`dataPool "${dataPool}" is not a Ceph pool name`);
    const size = imageSize(spec.sizeBytes, spec.limitBytes);
    return this.session(call, async (img, cred) => {
      // The common case first: a new empty image is one `rbd create`, then its state.
      if (!spec.source && (await img.create(spec.name, { size, features, dataPool }))) {
        return this.finishCreate(img, spec, { name: spec.name, id: '', size, features, opFeatures: [], snapshotCount: 0 }, size, cred);
      }
      const cur = await this.describe(img, spec.name);
      if (cur?.state?.deleted) {
        throw exists(`volume ${spec.name} was deleted but CSI snapshots of it remain in pool "${this.pool.id}"; its name is taken until they are deleted`);
      }
      if (cur?.state?.complete) {
        const rec = toRecord(spec.name, cur.info, cur.state);
        checkCompatible(rec, spec);
        return rec;
      }
      let depth: number | undefined;
      if (cur) this.checkLeftover(spec, cur.info);
      else depth = await this.makeImage(img, spec, size, features, dataPool, cred);
      const info = cur?.info ?? (await img.info(spec.name));
      if (!info) throw new StorageError('internal', `image ${img.spec(spec.name)} vanished while being created`);
      return this.finishCreate(img, spec, info, size, cred, depth);
    });
  }

  /** The rest of a create, also after a crash half way: size, clone-source snapshot, flatten, state. */
  private async finishCreate(img: Images, spec: CreateSpec, info: ImageInfo, size: number, cred: Cephx, depth?: number): Promise<VolumeRecord> {
    if (info.size < size) {
      await img.resize(spec.name, size);
      info = { ...info, size };
    }
    if (spec.source?.kind === 'volume') await img.snapRemove(spec.source.volume, cloneSnapName(spec.name));
    // What the clone got from its parent's metadata is the parent's: its snapshots' request
    // names and a flatten it owed. Removed before this volume's own debt and state are written.
    if (spec.source) {
      const inherited = Object.keys((await img.meta(spec.name)) ?? {}).filter((k) => k.startsWith(SNAP_REQUEST_PREFIX) || k === FLATTEN_KEY);
      for (const k of inherited) await img.removeMeta(spec.name, k);
    }
    // The flatten debt is recorded before the state, so a crash in between still owes it.
    if (spec.source && (depth ?? (await this.depth(img, info))) > this.pool.maxCloneDepth) {
      await this.flattener.schedule(img, spec.name, cred);
    }
    const state: VolumeState = {
      v: 1, name: spec.name, request: spec.requestName, mode: spec.mode, params: { ...spec.params }, created: new Date().toISOString(), complete: true,
      ...(spec.source ? { source: spec.source } : {}), ...(spec.pvc ? { pvc: spec.pvc } : {}),
      ...(this.pool.cluster ? { cluster: this.pool.cluster } : {}),
    };
    await img.setMeta(spec.name, STATE_KEY, encodeState(state));
    return toRecord(spec.name, info, state);
  }

  /** An image of this name without state: our own create, cut short. It must fit the request. */
  private checkLeftover(spec: CreateSpec, info: ImageInfo): void {
    const src = spec.source;
    const parent = info.parent;
    const ok = !src ? !parent
      : src.kind === 'snapshot' ? parent?.image === src.volume && parent.snapshot === src.snapshot
      : parent?.image === src.volume;
    if (!ok) throw exists(`image ${this.pool.pool}/${spec.name} exists but was not made by poolcsi for this request (its parent differs); remove or rename it`);
  }

  /** Makes the image; returns its clone depth (0 for a new empty image). */
  private async makeImage(img: Images, spec: CreateSpec, size: number, features: string[], dataPool: string | undefined, cred: Cephx): Promise<number> {
    const src = spec.source;
    if (!src) {
      await img.create(spec.name, { size, features, dataPool });
      return 0;
    }
    const source = await this.describe(img, src.volume);
    let snap: string;
    if (src.kind === 'snapshot') {
      const s = userSnaps((await img.snaps(src.volume)) ?? []).find((x) => x.name === src.snapshot);
      if (!source || !s) throw notFound(`source snapshot ${src.volume}@${src.snapshot} does not exist in pool "${this.pool.id}"`);
      if (s.size > size) throw outOfRange(`snapshot ${src.volume}@${src.snapshot} holds ${s.size} bytes; a volume made from it needs at least that`);
      snap = src.snapshot;
    } else {
      if (!source?.state?.complete || source.state.deleted) throw notFound(`source volume ${src.volume} does not exist in pool "${this.pool.id}"`);
      if (source.info.size > size) throw outOfRange(`volume ${src.volume} holds ${source.info.size} bytes; a clone of it needs at least that`);
      snap = cloneSnapName(spec.name);
    }
    const depth = (await this.depth(img, source.info)) + 1;
    if (depth > HARD_DEPTH) {
      if (!this.flattener.isRunning(src.volume)) await this.flattener.schedule(img, src.volume, cred);
      throw new StorageError('busy', `source ${src.volume} is ${depth - 1} clones deep; it is being flattened, retry when that is done`);
    }
    if (src.kind === 'volume') await img.snapCreate(src.volume, snap);
    await img.clone(src.volume, snap, spec.name, { features, dataPool });
    return depth;
  }

  async deleteVolume(name: string, call?: CallOptions): Promise<void> {
    await this.flattener.cancel(name);
    await this.session(call, async (img) => {
      const info = await img.info(name);
      if (!info) {
        // Gone already: maybe a retry after a crash between removing it and purging its parent,
        // or during an `rbd rm` cut short, which leaves the name listed without its header: the
        // rm again finishes that (and answers "absent" for an image that is really gone).
        await img.remove(name);
        await sweepTrash(img, this.log);
        return;
      }
      if (info.snapshotCount > 0) {
        const [snaps, meta] = await Promise.all([img.snaps(name), img.meta(name)]);
        const state = readState(meta, name);
        if (state?.deleted) return;
        for (const s of (snaps ?? []).filter((x) => x.namespace === 'user' && isInternalSnap(x.name))) await img.snapRemove(name, s.name);
        const kept = userSnaps(snaps ?? []);
        if (kept.length) {
          // CSI snapshots outlive their volume: keep the image, hidden, until the last one goes.
          const base: VolumeState = state ?? { v: 1, request: name, mode: 'filesystem', params: {}, created: new Date().toISOString(), complete: false };
          await img.setMeta(name, STATE_KEY, encodeState({ ...base, deleted: new Date().toISOString() }));
          this.log.info({ image: name, snapshots: kept.length }, 'volume deleted; image kept for its snapshots');
          // The last snapshot may have gone meanwhile, read before the tombstone was there.
          await this.removeIfOrphaned(img, name);
          return;
        }
      }
      await removeImage(img, name, info.parent, this.log);
    });
  }

  async getVolume(name: string, call?: CallOptions): Promise<VolumeRecord | undefined> {
    return this.session(call, async (img) => {
      const cur = await this.describe(img, name);
      if (!cur?.state?.complete || cur.state.deleted) return undefined;
      return toRecord(name, cur.info, cur.state);
    }, false);
  }

  async listVolumes(call?: CallOptions): Promise<VolumeRecord[]> {
    return this.session(call, async (img) => {
      const images = (await img.list()).filter((e) => e.snapshot === undefined);
      const recs = await mapLimit(images, 8, async (e) => {
        const state = readState(await img.meta(e.image), e.image);
        if (!state?.complete || state.deleted) return undefined;
        return toRecord(e.image, { name: e.image, id: e.id, size: e.size, features: [], opFeatures: [], snapshotCount: 0 }, state);
      });
      return recs.filter((r): r is VolumeRecord => r !== undefined);
    });
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number, call?: CallOptions): Promise<VolumeRecord> {
    return this.session(call, async (img) => {
      const cur = await this.describe(img, name);
      if (!cur?.state?.complete || cur.state.deleted) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
      if (cur.info.size >= sizeBytes) return toRecord(name, cur.info, cur.state);
      const size = imageSize(sizeBytes, limitBytes);
      await img.resize(name, size);
      return toRecord(name, { ...cur.info, size }, cur.state);
    });
  }

  // ---- snapshots --------------------------------------------------------------------------

  async createSnapshot(volume: string, name: string, requestName: string, call?: CallOptions): Promise<SnapshotRecord> {
    return this.session(call, async (img) => {
      const cur = await this.describe(img, volume);
      if (!cur?.state?.complete || cur.state.deleted) throw notFound(`source volume ${volume} does not exist in pool "${this.pool.id}"`);
      let snap = userSnaps((await img.snaps(volume)) ?? []).find((s) => s.name === name);
      if (!snap) {
        // The request name first: a crash after the snapshot must not lose it.
        if (requestName !== name) await img.setMeta(volume, `${SNAP_REQUEST_PREFIX}${name}`, requestName);
        await img.snapCreate(volume, name);
        snap = userSnaps((await img.snaps(volume)) ?? []).find((s) => s.name === name);
        if (!snap) throw new StorageError('internal', `snapshot ${img.spec(volume, name)} vanished right after it was made`);
      }
      return { volume, name, requestName, sizeBytes: snap.size, createdAt: snap.createdAt, ready: true };
    });
  }

  async deleteSnapshot(volume: string, name: string, call?: CallOptions): Promise<void> {
    await this.session(call, async (img) => {
      const cur = await this.describe(img, volume);
      if (!cur) {
        // No image: gone with its snapshots, or a removal cut short (two deletes racing on the
        // last snapshots of a deleted volume left its name listed without its header, CI
        // 2026-12-03): the rm finishes that, and answers "absent" when there is nothing.
        await img.remove(volume);
        return;
      }
      const before = userSnaps((await img.snaps(volume)) ?? []);
      // With clones, clone v2 keeps the snapshot in the trash namespace until they are gone.
      if (before.some((s) => s.name === name)) await img.snapRemove(volume, name);
      if (cur.meta[`${SNAP_REQUEST_PREFIX}${name}`] !== undefined) await img.removeMeta(volume, `${SNAP_REQUEST_PREFIX}${name}`);
      await this.removeIfOrphaned(img, volume);
    });
  }

  /**
   * Removes a deleted volume's image once its last CSI snapshot is gone. Read after this call's
   * own change (never from a listing taken before it): of two deletes racing on the last two
   * snapshots, or a DeleteVolume racing the last DeleteSnapshot, the later reader sees nothing
   * left and removes the image; both may, and removal is idempotent.
   */
  private async removeIfOrphaned(img: Images, volume: string): Promise<void> {
    const cur = await this.describe(img, volume);
    if (!cur?.state?.deleted) return;
    if (userSnaps((await img.snaps(volume)) ?? []).length) return;
    await removeImage(img, volume, cur.info.parent, this.log);
    this.log.info({ image: volume }, 'last snapshot of a deleted volume gone; image removed (or trashed for its clones)');
  }

  async getSnapshot(volume: string, name: string, call?: CallOptions): Promise<SnapshotRecord | undefined> {
    return this.session(call, async (img) => {
      const [snaps, meta] = await Promise.all([img.snaps(volume), img.meta(volume)]);
      const s = userSnaps(snaps ?? []).find((x) => x.name === name);
      return s ? { volume, name, requestName: snapRequest(meta, name), sizeBytes: s.size, createdAt: s.createdAt, ready: true } : undefined;
    });
  }

  async listSnapshots(call?: CallOptions): Promise<SnapshotRecord[]> {
    return this.session(call, async (img) => {
      // `rbd ls -l` names every snapshot; time and request name need two calls per image, but
      // never change for a (image id, snapshot id), so they are fetched once and remembered.
      const snaps = (await img.list()).filter((e) => e.snapshot !== undefined && e.snapshotId !== undefined && !isInternalSnap(e.snapshot));
      const key = (imageId: string, snapId: number) => `${imageId}@${snapId}`;
      const unknown = new Map(snaps.filter((e) => !this.snapFacts.has(key(e.id, e.snapshotId!))).map((e) => [e.image, e.id] as const));
      await mapLimit([...unknown], 4, async ([volume, id]) => {
        const [list, meta] = await Promise.all([img.snaps(volume), img.meta(volume)]);
        for (const s of userSnaps(list ?? [])) this.snapFacts.set(key(id, s.id), { createdAt: s.createdAt, request: snapRequest(meta, s.name) });
      });
      if (this.snapFacts.size > 50_000) this.snapFacts.clear();
      return snaps.flatMap((e) => {
        const facts = this.snapFacts.get(key(e.id, e.snapshotId!));
        return facts ? [{ volume: e.image, name: e.snapshot!, requestName: facts.request, sizeBytes: e.size, createdAt: facts.createdAt, ready: true }] : [];
      });
    });
  }

  async capacity(call?: CallOptions): Promise<Capacity> {
    return this.session(call, async (img) => {
      const name = this.pool.dataPool ?? this.pool.pool;
      const p = (await img.usage()).find((u) => u.name === name);
      if (!p) throw new StorageError('unavailable', `"ceph df" lists no pool ${name}: does it exist, and is a ceph-mgr running (pool statistics come from it)?`);
      return {
        totalBytes: p.used + p.maxAvail,
        availableBytes: p.maxAvail,
        notes: ['images are thin: they take space as they are written'],
      };
    });
  }

  // ---- publish (controller) -----------------------------------------------------------------

  async publish(name: string, node: string, opts: PublishOptions, call?: CallOptions): Promise<Record<string, string>> {
    return this.session(call, async (img) => {
      const cur = await this.describe(img, name);
      if (!cur?.state?.complete || cur.state.deleted) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
      const rec = toRecord(name, cur.info, cur.state);
      const prior = JSON.stringify(rec.published ?? {});
      recordPublish(rec, node, opts);
      if (JSON.stringify(rec.published) !== prior) await img.setMeta(name, STATE_KEY, encodeState({ ...cur.state, published: rec.published ?? {} }));
      return {};
    });
  }

  async unpublish(name: string, node?: string, call?: CallOptions): Promise<void> {
    await this.session(call, async (img) => {
      const cur = await this.describe(img, name);
      if (!cur?.state?.published) return;
      const published = { ...cur.state.published };
      if (node === undefined) for (const k of Object.keys(published)) delete published[k];
      else if (!(node in published)) return;
      else delete published[node];
      await img.setMeta(name, STATE_KEY, encodeState({ ...cur.state, published }));
    });
  }

  // ---- node context ---------------------------------------------------------------------------

  nodeContext(rec: VolumeRecord): NodeContext {
    return rbdNodeContext(this.pool, rec.name);
  }

  /** Waits for background flattens (tests). */
  idle(): Promise<void> { return this.flattener.idle(); }
}

/** Maps with at most `limit` calls in flight (each is a process). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
