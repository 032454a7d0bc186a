// The snapshot RPCs of the Controller service.
import { traitsOf } from '../backends/index.js';
import type { CallOptions, SnapshotRecord } from '../backends/types.js';
import { deriveName, IdError, MAX_SNAPSHOT_NAME, parseSnapshotId, snapshotId, volumeId } from '../pools/ids.js';
import type { Pool } from '../pools/schema.js';
import { callOf, findVolume, paginate, requireField, withLocks, type DriverContext } from './context.js';
import { invalidArgument, CsiError } from './errors.js';
import { status } from '@grpc/grpc-js';
import { checkSnapshotParams } from './params.js';
import type { Handler } from './rpc.js';

function snapshotMessage(pool: Pool, s: SnapshotRecord): object {
  const ms = Date.parse(s.createdAt);
  return {
    snapshot_id: snapshotId({ pool: pool.id, volume: s.volume, name: s.name }),
    source_volume_id: volumeId({ pool: pool.id, name: s.volume }),
    size_bytes: String(s.sizeBytes),
    creation_time: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
    ready_to_use: s.ready,
  };
}

async function allSnapshots(ctx: DriverContext, pools: Pool[], call: CallOptions): Promise<Array<{ pool: Pool; snap: SnapshotRecord }>> {
  const out: Array<{ pool: Pool; snap: SnapshotRecord }> = [];
  for (const pool of pools) {
    if (!traitsOf(pool.type).snapshots) continue;
    for (const r of ctx.router.everywhere(pool)) {
      for (const snap of await r.backend.listSnapshots(call)) out.push({ pool, snap });
    }
  }
  return out;
}

export function snapshotHandlers(ctx: DriverContext): Record<string, Handler> {
  return {
    async CreateSnapshot(req) {
      requireField(req.name, 'name');
      requireField(req.source_volume_id, 'source_volume_id');
      const v = await findVolume(ctx, req.source_volume_id, callOf(req));
      if (!traitsOf(v.pool.type).snapshots) throw invalidArgument(`pool "${v.pool.id}" (type ${v.pool.type}) has no snapshots`);
      checkSnapshotParams(req.parameters);
      const name = deriveName(req.name, MAX_SNAPSHOT_NAME);
      return withLocks(ctx, [`snapname:${req.name}`, req.source_volume_id], async () => {
        // Snapshot names are unique per driver: the same name on another volume is a conflict.
        const clash = (await allSnapshots(ctx, [v.pool], callOf(req))).find((s) => s.snap.requestName === req.name && s.snap.volume !== v.ref.name);
        if (clash) {
          throw new CsiError(status.ALREADY_EXISTS, `snapshot name "${req.name}" is already used for volume ${volumeId({ pool: v.pool.id, name: clash.snap.volume })}`);
        }
        const snap = await v.backend.createSnapshot(v.ref.name, name, req.name, callOf(req));
        if (v.node) ctx.router.locator.remember(v.pool.id, `${v.ref.name}@${name}`, v.node);
        return { snapshot: snapshotMessage(v.pool, snap) };
      });
    },

    async DeleteSnapshot(req) {
      requireField(req.snapshot_id, 'snapshot_id');
      let ref;
      try { ref = parseSnapshotId(req.snapshot_id); } catch (e) { if (e instanceof IdError) return {}; throw e; }
      const entry = ctx.registry.get(ref.pool);
      if (!entry) return {};
      return withLocks(ctx, [req.snapshot_id], async () => {
        const routed = await ctx.router.forSnapshot(entry.pool, ref.volume, ref.name, callOf(req));
        if (routed) await routed.backend.deleteSnapshot(ref.volume, ref.name, callOf(req));
        ctx.router.locator.forget(ref.pool, `${ref.volume}@${ref.name}`);
        return {};
      });
    },

    async ListSnapshots(req) {
      let pools = ctx.registry.all().map((e) => e.pool);
      let filter: (s: SnapshotRecord) => boolean = () => true;
      if (req.snapshot_id) {
        let ref;
        try { ref = parseSnapshotId(req.snapshot_id); } catch { return { entries: [], next_token: '' }; }
        pools = pools.filter((p) => p.id === ref.pool);
        filter = (s) => s.volume === ref.volume && s.name === ref.name;
      } else if (req.source_volume_id) {
        const colon = String(req.source_volume_id).indexOf(':');
        const poolId = colon > 0 ? req.source_volume_id.slice(0, colon) : '';
        const vol = req.source_volume_id.slice(colon + 1);
        pools = pools.filter((p) => p.id === poolId);
        filter = (s) => s.volume === vol;
      }
      const snaps = (await allSnapshots(ctx, pools, callOf(req))).filter((s) => filter(s.snap));
      const entries = snaps.map((s) => ({ id: snapshotId({ pool: s.pool.id, volume: s.snap.volume, name: s.snap.name }), msg: snapshotMessage(s.pool, s.snap) }));
      const { page, next } = paginate(entries, (e) => e.id, req.starting_token ?? '', req.max_entries ?? 0);
      return { entries: page.map((e) => ({ snapshot: e.msg })), next_token: next };
    },
  };
}
