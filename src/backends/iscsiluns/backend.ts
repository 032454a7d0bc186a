// `iscsi-luns` pools: the LUNs a target already has (a SAN's, a storage manager's "use LUNs
// directly"). A volume is one whole LUN. The controller reads the target's LUNs through a short
// iSCSI session of its own (session.ts, scsi.ts), and who owns which LUN lives in Kubernetes
// (claims.ts): CreateVolume claims the smallest unclaimed LUN that fits, DeleteVolume zeroes it
// (saferemove) and releases the claim. Nothing on the target changes but the data: its ACLs
// and LUN map are the admin's, so publishing only records the node.
import type { Chap } from '../../node/transports/iscsi-chap.js';
import { resolveChap } from '../iscsi/chap.js';
import { initiatorIqnFor } from '../../node/transports/iscsi-names.js';
import { portalOf } from '../../node/transports/iscsi.js';
import type { IscsiLunsPool } from '../../pools/schema.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { exhausted, notFound, outOfRange, precondition, StorageError, unsupported } from '../errors.js';
import { secretSource, type SecretSource } from '../secrets.js';
import type {
  Backend, CallOptions, Capacity, CreateSpec, NodeContext, PublishOptions, SnapshotRecord, TypeTraits, VolumeRecord,
} from '../types.js';
import { claimName, claimStore, type Claim, type ClaimStore } from './claims.js';
import { iscsiLunsNodeContext, locationOf } from './context.js';
import { inventory, wipe, type LunInfo } from './scsi.js';
import { IscsiSession, IscsiSessionError, ScsiError } from './session.js';

export const iscsiLunsTraits: TypeTraits = {
  local: false,
  modes: ['filesystem', 'block'],
  snapshots: false,
  clones: false,
  expand: false,
  makesFilesystem: true,
  nodeExpand: false,
  multiNode: { filesystem: false, block: true },
  params: [],
};

/** How long one inventory serves the calls that follow (a CreateVolume burst reads the target once). */
const INVENTORY_MS = 2000;

/** The LUNs of `target` no claim holds (claims of any pool count: a LUN named by two pools is one LUN). */
export function freeLuns(luns: readonly LunInfo[], claims: readonly Pick<Claim, 'name'>[], target: string): LunInfo[] {
  const taken = new Set(claims.map((c) => c.name));
  return luns.filter((l) => !taken.has(claimName(target, l.wwid)));
}

/** The free LUNs that fit a request, best first: the smallest that holds it (least waste), then the lowest number. */
export function candidates(free: readonly LunInfo[], sizeBytes: number, limitBytes: number): LunInfo[] {
  return free
    .filter((l) => l.sizeBytes >= sizeBytes && (limitBytes === 0 || l.sizeBytes <= limitBytes))
    .sort((a, b) => a.sizeBytes - b.sizeBytes || a.lun - b.lun);
}

/**
 * Of two claims for one volume (two controllers raced), the one the API server stored first
 * wins; resourceVersions are etcd revisions, so the lower number is the earlier write.
 */
export function firstClaim(cs: readonly Claim[]): Claim | undefined {
  const rv = (c: Claim) => Number(c.resourceVersion ?? Number.MAX_SAFE_INTEGER);
  return [...cs].sort((a, b) => rv(a) - rv(b) || (a.name < b.name ? -1 : 1))[0];
}

function record(c: Claim): VolumeRecord {
  return {
    name: c.volume, requestName: c.requestName, sizeBytes: c.sizeBytes, mode: c.mode, params: c.params,
    complete: !c.releasing, createdAt: c.createdAt, location: locationOf(c.lun, c.wwid), published: c.published,
    ...(c.pvc ? { pvc: c.pvc } : {}),
  };
}

export class IscsiLunsBackend implements Backend {
  readonly traits = iscsiLunsTraits;
  private cached?: { at: number; luns: Promise<LunInfo[]> };

  constructor(
    readonly pool: IscsiLunsPool,
    private readonly claims: ClaimStore = claimStore(),
    private readonly secrets: SecretSource = secretSource(),
  ) {}

  /** The controller's CHAP: the call's CSI secrets, else the pool's secretRef (none without `chap`). */
  private chap(call?: CallOptions): Promise<Chap | undefined> {
    return resolveChap(this.pool, call, this.secrets);
  }

  /** Runs `f` in a session at the first portal that logs in. */
  private async session<T>(call: CallOptions | undefined, f: (s: IscsiSession) => Promise<T>): Promise<T> {
    const chap = await this.chap(call);
    const failures: string[] = [];
    for (const p of this.pool.portals) {
      const { host, port } = portalOf(p);
      let s: IscsiSession;
      try {
        s = await IscsiSession.open({ host, port, initiator: this.pool.initiator, target: this.pool.target, chap, timeoutMs: this.pool.timeoutSeconds * 1000 });
      } catch (e) {
        if (!(e instanceof IscsiSessionError)) throw e;
        // A refusal is the target's answer (every portal would give it); try the next portal only when this one is unreachable.
        if (e.reason === 'auth') throw new StorageError('denied', `pool "${this.pool.id}": ${e.message}`);
        if (e.reason === 'refused') throw precondition(`pool "${this.pool.id}": ${e.message}`);
        failures.push(`${p}: ${e.message}`);
        continue;
      }
      try {
        return await f(s);
      } catch (e) {
        if (e instanceof IscsiSessionError) throw new StorageError('unavailable', `pool "${this.pool.id}": ${e.message}`, { cause: e });
        if (e instanceof ScsiError) throw new StorageError('internal', `pool "${this.pool.id}": ${e.message}`, { cause: e });
        throw e;
      } finally {
        await s.close();
      }
    }
    throw new StorageError('unavailable', `pool "${this.pool.id}": no portal of target ${this.pool.target} answered: ${failures.join('; ')}`);
  }

  private luns(call?: CallOptions, fresh = false): Promise<LunInfo[]> {
    const now = Date.now();
    if (!fresh && this.cached && now - this.cached.at < INVENTORY_MS) return this.cached.luns;
    const luns = this.session(call, inventory);
    this.cached = { at: now, luns };
    luns.catch(() => { if (this.cached?.luns === luns) this.cached = undefined; });
    return luns;
  }

  /** The claim that stands for `volume` among `all`. */
  private standing(all: readonly Claim[], volume: string): Claim | undefined {
    return firstClaim(all.filter((c) => c.pool === this.pool.id && c.volume === volume));
  }

  private async claimOf(volume: string): Promise<Claim | undefined> {
    return this.standing(await this.claims.list(), volume);
  }

  async createVolume(spec: CreateSpec, call?: CallOptions): Promise<VolumeRecord> {
    if (spec.source) throw unsupported(`pool "${this.pool.id}" (iscsi-luns) has no snapshots or clones`);
    const all = await this.claims.list();
    const had = this.standing(all, spec.name);
    if (had) {
      if (had.releasing) throw new StorageError('busy', `volume ${spec.name} is being deleted (its LUN is being zeroed); retry once the delete is done`);
      const rec = record(had);
      checkCompatible(rec, spec);
      return rec;
    }
    const free = freeLuns(await this.luns(call, true), all, this.pool.target);
    const fits = candidates(free, spec.sizeBytes, spec.limitBytes);
    if (!fits.length) {
      const big = free.filter((l) => l.sizeBytes >= spec.sizeBytes);
      if (big.length) throw outOfRange(`pool "${this.pool.id}": no free LUN between ${spec.sizeBytes} and ${spec.limitBytes} bytes (the smallest that holds ${spec.sizeBytes} has ${Math.min(...big.map((l) => l.sizeBytes))})`);
      throw exhausted(`pool "${this.pool.id}": no free LUN of target ${this.pool.target} holds ${spec.sizeBytes} bytes (${free.length} free, the largest ${free.length ? Math.max(...free.map((l) => l.sizeBytes)) : 0} bytes)`);
    }
    for (const l of fits) {
      const mine = await this.claims.create({
        name: claimName(this.pool.target, l.wwid), pool: this.pool.id, target: this.pool.target, wwid: l.wwid, lun: l.lun,
        sizeBytes: l.sizeBytes, volume: spec.name, requestName: spec.requestName, mode: spec.mode, params: { ...spec.params },
        ...(spec.pvc ? { pvc: spec.pvc } : {}), createdAt: new Date().toISOString(), published: {}, releasing: false,
      });
      if (mine === 'taken') continue; // claimed since the list: the next one
      // Another controller may have claimed a LUN for the same volume at the same time: the
      // first claim stands, a later one is given back (it was never handed out).
      const first = await this.claimOf(spec.name);
      if (first && first.name !== mine.name) {
        await this.claims.remove(mine);
        return record(first);
      }
      return record(mine);
    }
    throw exhausted(`pool "${this.pool.id}": every LUN that fits was claimed by others meanwhile; retry`);
  }

  async deleteVolume(name: string, call?: CallOptions): Promise<void> {
    for (;;) {
      let c = await this.claimOf(name);
      if (!c) return;
      const nodes = Object.keys(c.published);
      if (nodes.length) throw precondition(`volume ${name} is still published to node ${nodes.join(', ')}`);
      if (!c.releasing) {
        // Marked first: a crash during the wipe leaves a claim that says so, and the retry wipes again.
        const next = await this.claims.update({ ...c, releasing: true });
        if (next === 'stale') continue;
        c = next;
      }
      if (this.pool.saferemove === 'zero') await this.zero(c, call);
      await this.claims.remove(c);
      // Released: the next create may take it (the inventory is read fresh for creates).
      return;
    }
  }

  /** Zeroes the claim's LUN, found by its SCSI id (its number may have changed). */
  private async zero(c: Claim, call?: CallOptions): Promise<void> {
    await this.session(call, async (s) => {
      const l = (await inventory(s)).find((x) => x.wwid === c.wwid);
      if (!l) {
        throw precondition(`volume ${c.volume}: target ${this.pool.target} no longer offers the LUN with SCSI id ${c.wwid} (claimed as LUN ${c.lun}); it cannot be zeroed, so its claim (Lease ${c.name}) stays until the LUN is back or an admin deletes the claim`);
      }
      await wipe(s, l.lun, l.sizeBytes, l.blockBytes);
    });
  }

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    const c = await this.claimOf(name);
    return c ? record(c) : undefined;
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    const mine = (await this.claims.list()).filter((c) => c.pool === this.pool.id);
    const byVolume = new Map<string, Claim[]>();
    for (const c of mine) byVolume.set(c.volume, [...(byVolume.get(c.volume) ?? []), c]);
    return [...byVolume.values()].map((cs) => record(firstClaim(cs)!));
  }

  async expandVolume(): Promise<VolumeRecord> {
    throw unsupported(`pool "${this.pool.id}" (iscsi-luns): a volume is a whole LUN and cannot grow`);
  }

  async createSnapshot(): Promise<SnapshotRecord> { throw unsupported(`pool "${this.pool.id}" (iscsi-luns) has no snapshots`); }
  async deleteSnapshot(): Promise<void> { /* there are none */ }
  async getSnapshot(): Promise<SnapshotRecord | undefined> { return undefined; }
  async listSnapshots(): Promise<SnapshotRecord[]> { return []; }

  async capacity(call?: CallOptions): Promise<Capacity> {
    const [luns, all] = await Promise.all([this.luns(call), this.claims.list()]);
    const free = freeLuns(luns, all, this.pool.target);
    return {
      totalBytes: luns.reduce((n, l) => n + l.sizeBytes, 0),
      availableBytes: free.reduce((n, l) => n + l.sizeBytes, 0),
      maxVolumeBytes: free.reduce((n, l) => Math.max(n, l.sizeBytes), 0),
      notes: [`${free.length} of ${luns.length} LUNs free; a volume is a whole LUN`],
    };
  }

  async publish(name: string, node: string, opts: PublishOptions): Promise<Record<string, string>> {
    for (;;) {
      const c = await this.claimOf(name);
      if (!c || c.releasing) throw notFound(`volume ${name} does not exist in pool "${this.pool.id}"`);
      const rec = record(c);
      recordPublish(rec, node, opts);
      const changed = JSON.stringify(rec.published) !== JSON.stringify(c.published);
      if (changed && (await this.claims.update({ ...c, published: rec.published ?? {} })) === 'stale') continue;
      return { target: this.pool.target, lun: String(c.lun), portals: this.pool.portals.join(','), initiator: initiatorIqnFor(node) };
    }
  }

  async unpublish(name: string, node?: string): Promise<void> {
    for (;;) {
      const c = await this.claimOf(name);
      if (!c) return;
      const published = node === undefined ? {} : Object.fromEntries(Object.entries(c.published).filter(([n]) => n !== node));
      if (JSON.stringify(published) === JSON.stringify(c.published)) return;
      if ((await this.claims.update({ ...c, published })) !== 'stale') return;
    }
  }

  nodeContext(rec: VolumeRecord): NodeContext {
    return iscsiLunsNodeContext(this.pool, rec);
  }
}
