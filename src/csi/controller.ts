// The Controller service: volumes (create, delete, publish, validate, list, expand, capacity).
// Snapshots are in snapshots.ts. No backend knowledge here: the router picks the backend.
import { traitsOf, isLocal } from '../backends/index.js';
import { StorageError } from '../backends/errors.js';
import type { Backend, VolumeRecord, VolumeSource } from '../backends/types.js';
import { buildVolumeContext } from '../node/context.js';
import { deriveName, MAX_VOLUME_NAME, parseSnapshotId, parseVolumeId, volumeId } from '../pools/ids.js';
import type { Pool } from '../pools/schema.js';
import { checkCapabilities, parseCapabilities, parseCapability, READ_ONLY_MODES, unsupportedReason } from './capability.js';
import {
  callOf, findVolume, lookupVolumeRef, paginate, requireField, topologyOf, withLocks, TOPOLOGY_KEY, type DriverContext,
} from './context.js';
import { failedPrecondition, invalidArgument, notFound, quote } from './errors.js';
import { resolveParams } from './params.js';
import type { Handler, Req } from './rpc.js';
import { snapshotHandlers } from './snapshots.js';

export const DEFAULT_SIZE = 1024 ** 3;

const CONTROLLER_CAPS = [
  'CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT',
  'LIST_SNAPSHOTS', 'CLONE_VOLUME', 'PUBLISH_READONLY', 'EXPAND_VOLUME', 'SINGLE_NODE_MULTI_WRITER',
];

/** Parses a CSI int64 (a string from proto-loader) into a non-negative safe integer. */
export function bytes(value: unknown, field: string): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${field} must be a non-negative integer number of bytes`);
  return n;
}

export function capacityRange(range: Req): { required: number; limit: number } {
  const required = bytes(range?.required_bytes, 'capacity_range.required_bytes');
  const limit = bytes(range?.limit_bytes, 'capacity_range.limit_bytes');
  if (limit > 0 && limit < required) {
    throw new StorageError('out-of-range', `capacity_range.limit_bytes (${limit}) is below required_bytes (${required})`);
  }
  return { required, limit };
}

function poolForCreate(ctx: DriverContext, params: Record<string, string>): Pool {
  const id = params.pool;
  if (!id) throw invalidArgument('StorageClass parameter "pool" is required: it names the pool to create the volume in');
  const entry = ctx.registry.get(id);
  const known = ctx.registry.list().map((p) => p.id).join(', ') || 'none';
  if (!entry || entry.retired) throw invalidArgument(`unknown pool ${quote(id)} (pools: ${known})`);
  if (entry.pool.disable) throw failedPrecondition(`pool "${id}" is disabled: it takes no new volumes`);
  return entry.pool;
}

/** Candidate nodes from accessibility requirements: preferred first, then requisite. */
function topologyNodes(req: Req): string[] {
  const out: string[] = [];
  for (const t of [...(req?.preferred ?? []), ...(req?.requisite ?? [])]) {
    const n = t?.segments?.[TOPOLOGY_KEY];
    if (n && !out.includes(n)) out.push(n);
  }
  return out;
}

function contentSource(pool: Pool, src: Req): VolumeSource | undefined {
  if (!src?.type) return undefined;
  const t = traitsOf(pool.type);
  if (src.type === 'snapshot') {
    const id = src.snapshot?.snapshot_id ?? '';
    let ref;
    try { ref = parseSnapshotId(id); } catch { throw notFound(`source snapshot ${JSON.stringify(id)} not found`); }
    if (ref.pool !== pool.id) throw invalidArgument(`source snapshot ${id} is in pool "${ref.pool}"; restore into the same pool ("${pool.id}" was requested)`);
    if (!t.snapshots) throw invalidArgument(`pool type ${pool.type} has no snapshots`);
    return { kind: 'snapshot', volume: ref.volume, snapshot: ref.name };
  }
  const id = src.volume?.volume_id ?? '';
  let ref;
  try { ref = parseVolumeId(id); } catch { throw notFound(`source volume ${JSON.stringify(id)} not found`); }
  if (ref.pool !== pool.id) throw invalidArgument(`source volume ${id} is in pool "${ref.pool}"; clone into the same pool ("${pool.id}" was requested)`);
  if (!t.clones) throw invalidArgument(`pool type ${pool.type} cannot clone volumes`);
  return { kind: 'volume', volume: ref.name };
}

/** What any node needs to stage the volume (node/context.ts): no pool lookup, no credentials there. */
export function volumeContext(pool: Pool, rec: VolumeRecord, backend: Backend): Record<string, string> {
  const { transport, descriptor } = backend.nodeContext(rec);
  return buildVolumeContext({
    pool: pool.id, type: pool.type, mode: rec.mode,
    fsType: rec.mode === 'filesystem' ? rec.params.fsType ?? pool.defaults?.fsType ?? '' : '',
    mkfsOptions: rec.mode === 'filesystem' ? rec.params.mkfsOptions ?? '' : '',
    mountOptions: rec.params.mountOptions ?? '',
    transport, descriptor,
  });
}

function volumeMessage(pool: Pool, rec: VolumeRecord, node: string | undefined, backend: Backend): object {
  const source = rec.source?.kind === 'snapshot'
    ? { snapshot: { snapshot_id: `${pool.id}:${rec.source.volume}@${rec.source.snapshot}` } }
    : rec.source?.kind === 'volume' ? { volume: { volume_id: volumeId({ pool: pool.id, name: rec.source.volume }) } } : undefined;
  return {
    volume_id: volumeId({ pool: pool.id, name: rec.name }),
    capacity_bytes: String(rec.sizeBytes),
    volume_context: volumeContext(pool, rec, backend),
    ...(source ? { content_source: source } : {}),
    accessible_topology: topologyOf(node ?? rec.node),
  };
}

export function controllerHandlers(ctx: DriverContext): Record<string, Handler> {
  return {
    async ControllerGetCapabilities() {
      return { capabilities: CONTROLLER_CAPS.map((type) => ({ rpc: { type } })) };
    },

    async CreateVolume(req) {
      requireField(req.name, 'name');
      const caps = parseCapabilities(req.volume_capabilities);
      const raw: Record<string, string> = req.parameters ?? {};
      const pool = poolForCreate(ctx, raw);
      const mode = checkCapabilities(pool, caps);
      const { params, pvc } = resolveParams(pool, raw);
      const { required, limit } = capacityRange(req.capacity_range);
      const size = required || (limit && limit < DEFAULT_SIZE ? limit : DEFAULT_SIZE);
      const name = deriveName(req.name, MAX_VOLUME_NAME);
      const source = contentSource(pool, req.volume_content_source);
      const id = volumeId({ pool: pool.id, name });
      return withLocks(ctx, [`name:${req.name}`, id], async () => {
        // A clone or restore of a node-local volume is made where its source lives.
        let routed;
        if (source && isLocal(pool)) {
          routed = await ctx.router.forExisting(pool, source.volume, callOf(req))
            ?? (source.kind === 'snapshot' ? await ctx.router.forSnapshot(pool, source.volume, source.snapshot, callOf(req)) : undefined);
          if (!routed) throw notFound(`source ${source.kind} of ${req.name} not found in pool "${pool.id}"`);
        } else {
          routed = ctx.router.forCreate(pool, topologyNodes(req.accessibility_requirements));
        }
        const rec = await routed.backend.createVolume({
          name, requestName: req.name, sizeBytes: size, limitBytes: limit, mode, params,
          ...(source ? { source } : {}), ...(pvc ? { pvc } : {}),
        }, callOf(req));
        if (routed.node) ctx.router.locator.remember(pool.id, name, routed.node);
        return { volume: volumeMessage(pool, rec, routed.node, routed.backend) };
      });
    },

    async DeleteVolume(req) {
      requireField(req.volume_id, 'volume_id');
      let ref;
      try { ref = lookupVolumeRef(req.volume_id); } catch { return {}; }
      const entry = ctx.registry.get(ref.pool);
      if (!entry) return {};
      return withLocks(ctx, [req.volume_id], async () => {
        const routed = await ctx.router.forExisting(entry.pool, ref.name, callOf(req));
        // Not found complete anywhere: a create may have been abandoned half way; every
        // backend of the pool deletes its half-made copy (a no-op where there is none).
        const targets = routed ? [routed] : ctx.router.everywhere(entry.pool);
        for (const t of targets) await t.backend.deleteVolume(ref.name, callOf(req));
        ctx.router.locator.forget(ref.pool, ref.name);
        return {};
      });
    },

    async ControllerPublishVolume(req) {
      requireField(req.volume_id, 'volume_id');
      requireField(req.node_id, 'node_id');
      const cap = parseCapability(req.volume_capability);
      const v = await findVolume(ctx, req.volume_id, callOf(req));
      if (!ctx.knownNode(req.node_id)) throw notFound(`node ${req.node_id} is not known to this driver`);
      const why = unsupportedReason(v.pool, cap);
      if (why) throw invalidArgument(why);
      if (v.node && v.node !== req.node_id) {
        throw failedPrecondition(`volume ${req.volume_id} lives on node ${v.node} (pool "${v.pool.id}" is node-local) and cannot be published to ${req.node_id}`);
      }
      return withLocks(ctx, [req.volume_id], async () => {
        const readonly = Boolean(req.readonly) || READ_ONLY_MODES.has(cap.access);
        const context = await v.backend.publish(v.ref.name, req.node_id, { readonly, multiNode: cap.access.startsWith('MULTI_NODE') }, callOf(req));
        return { publish_context: context };
      });
    },

    async ControllerUnpublishVolume(req) {
      requireField(req.volume_id, 'volume_id');
      let v;
      try { v = await findVolume(ctx, req.volume_id, callOf(req)); } catch { return {}; }
      return withLocks(ctx, [req.volume_id], async () => {
        await v.backend.unpublish(v.ref.name, req.node_id || undefined, callOf(req));
        return {};
      });
    },

    async ValidateVolumeCapabilities(req) {
      requireField(req.volume_id, 'volume_id');
      const caps = parseCapabilities(req.volume_capabilities);
      const v = await findVolume(ctx, req.volume_id, callOf(req));
      const reasons = caps.map((c) => unsupportedReason(v.pool, c) ?? (c.mode !== v.record.mode ? `volume is a ${v.record.mode} volume` : undefined));
      const bad = reasons.find((r) => r);
      if (bad) return { message: bad };
      return { confirmed: { volume_context: req.volume_context ?? {}, volume_capabilities: req.volume_capabilities, parameters: req.parameters ?? {} } };
    },

    async ListVolumes(req) {
      const entries: Array<{ id: string; msg: object }> = [];
      for (const { pool } of ctx.registry.all()) {
        for (const routed of ctx.router.everywhere(pool)) {
          for (const rec of await routed.backend.listVolumes(callOf(req))) {
            const msg = volumeMessage(pool, rec, routed.node, routed.backend);
            entries.push({ id: volumeId({ pool: pool.id, name: rec.name }), msg });
          }
        }
      }
      const { page, next } = paginate(entries, (e) => e.id, req.starting_token ?? '', req.max_entries ?? 0);
      return { entries: page.map((e) => ({ volume: e.msg })), next_token: next };
    },

    async GetCapacity(req) {
      const raw: Record<string, string> = req.parameters ?? {};
      const node: string | undefined = req.accessible_topology?.segments?.[TOPOLOGY_KEY];
      let pools = ctx.registry.list().filter((p) => !p.disable);
      if (raw.pool) {
        pools = pools.filter((p) => p.id === raw.pool);
        if (!pools.length) throw invalidArgument(`unknown pool ${quote(raw.pool)}`);
        resolveParams(pools[0]!, raw);
      }
      if (req.volume_capabilities?.length) {
        const caps = parseCapabilities(req.volume_capabilities);
        pools = pools.filter((p) => caps.every((c) => !unsupportedReason(p, c)));
      }
      let available = 0;
      let maximum = 0;
      for (const pool of pools) {
        const backends: Backend[] = isLocal(pool)
          ? ctx.router.nodesOf(pool).filter((n) => !node || n === node).map((n) => ctx.router.onNode(pool, n).backend)
          : (!node || !pool.nodes || pool.nodes.includes(node)) ? ctx.router.everywhere(pool).map((r) => r.backend) : [];
        for (const b of backends) {
          const c = await b.capacity(callOf(req));
          available += c.availableBytes;
          maximum = Math.max(maximum, c.maxVolumeBytes ?? c.availableBytes);
        }
      }
      return { available_capacity: String(available), maximum_volume_size: { value: String(maximum) }, minimum_volume_size: null };
    },

    async ControllerExpandVolume(req) {
      requireField(req.volume_id, 'volume_id');
      if (!req.capacity_range) throw invalidArgument('capacity_range is required');
      const { required, limit } = capacityRange(req.capacity_range);
      if (required === 0) throw invalidArgument('capacity_range.required_bytes must be set to the new size');
      const v = await findVolume(ctx, req.volume_id, callOf(req));
      if (!traitsOf(v.pool.type).expand) throw invalidArgument(`pool type ${v.pool.type} cannot expand volumes`);
      return withLocks(ctx, [req.volume_id], async () => {
        const rec = await v.backend.expandVolume(v.ref.name, required, callOf(req));
        if (limit > 0 && rec.sizeBytes > limit) throw new StorageError('out-of-range', `volume is ${rec.sizeBytes} bytes, above limit_bytes ${limit}`);
        const nodeExpansion = traitsOf(v.pool.type).nodeExpand && rec.mode === 'filesystem';
        return { capacity_bytes: String(rec.sizeBytes), node_expansion_required: nodeExpansion };
      });
    },

    ...snapshotHandlers(ctx),
  };
}
