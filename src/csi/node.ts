// The Node service: stage, publish, stats, expand, info. Transports (how a volume becomes
// reachable on this node) belong to the backend's attach(); mounts belong to node/.
import { traitsOf } from '../backends/index.js';
import { StorageError } from '../backends/errors.js';
import { checkPathShape, existingKind, PathError } from '../node/paths.js';
import { Staging, StagingError } from '../node/staging.js';
import { blockDeviceSize, filesystemUsage } from '../node/stats.js';
import type { Runner } from '../exec/index.js';
import { parseCapability, READ_ONLY_MODES } from './capability.js';
import { callOf, lookupVolumeRef, poolOf, requireField, withLocks, TOPOLOGY_KEY, type DriverContext } from './context.js';
import { CsiError, invalidArgument, notFound } from './errors.js';
import { status } from '@grpc/grpc-js';
import type { Handler, Req } from './rpc.js';

const NODE_CAPS = ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER'];

/** Node-side errors to CSI: a bad path is the request's fault, a conflicting mount is ALREADY_EXISTS. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PathError) throw invalidArgument(e.message);
    if (e instanceof StagingError) throw new CsiError(e.kind === 'exists' ? status.ALREADY_EXISTS : status.FAILED_PRECONDITION, e.message);
    throw e;
  }
}

export function nodeHandlers(ctx: DriverContext, runner: Runner, maxVolumes = 0): Record<string, Handler> {
  const staging = new Staging(runner);
  const path = (p: string, field: string) => {
    try { return checkPathShape(p, field, ctx.pathPrefixes); } catch (e) { throw invalidArgument((e as Error).message); }
  };

  /** volume_path names where a volume is published: a relative path names none (NOT_FOUND). */
  const lookupPath = (p: string) => {
    if (!p.startsWith('/')) throw notFound(`volume_path "${p}" is not absolute, so no volume is published there`);
    return path(p, 'volume_path');
  };

  /** The local backend for a volume on this node. */
  function backendFor(volumeId: string) {
    const ref = lookupVolumeRef(volumeId);
    const pool = poolOf(ctx, ref.pool, `volume ${volumeId}`);
    if (pool.nodes && !pool.nodes.includes(ctx.nodeId)) throw notFound(`pool "${pool.id}" does not exist on node ${ctx.nodeId}`);
    return { ref, pool, backend: ctx.local.get(pool) };
  }

  function mountOptions(cap: { mountFlags: string[] }, params: Record<string, string>): string[] {
    const fromParams = (params.mountOptions ?? '').split(',').filter(Boolean);
    return [...new Set([...fromParams, ...cap.mountFlags])];
  }

  return {
    async NodeGetCapabilities() {
      return { capabilities: NODE_CAPS.map((type) => ({ rpc: { type } })) };
    },

    async NodeGetInfo() {
      return {
        node_id: ctx.nodeId,
        max_volumes_per_node: String(maxVolumes),
        accessible_topology: { segments: { [TOPOLOGY_KEY]: ctx.nodeId } },
      };
    },

    async NodeStageVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const stagingPath = path(req.staging_target_path, 'staging_target_path');
      const cap = parseCapability(req.volume_capability);
      const { ref, pool, backend } = backendFor(req.volume_id);
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const rec = await backend.getVolume(ref.name, callOf(req));
        if (!rec) throw notFound(`volume ${req.volume_id} not found on node ${ctx.nodeId}`);
        if (rec.mode !== cap.mode) throw invalidArgument(`volume ${req.volume_id} is a ${rec.mode} volume; ${cap.mode} access was requested`);
        const options = mountOptions(cap, rec.params);
        const attachment = await backend.attach(ref.name, { ...callOf(req), publishContext: req.publish_context ?? {}, mountOptions: options });
        await staging.stage({
          attachment, stagingPath, mode: cap.mode,
          fsType: cap.fsType || rec.params.fsType || pool.defaults?.fsType || '',
          mkfsOptions: rec.params.mkfsOptions ?? '',
          // An nfs mount took the options itself; the bind onto the staging path takes none.
          mountOptions: pool.type === 'nfs' ? [] : options,
        });
        return {};
      }));
    },

    async NodeUnstageVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const stagingPath = path(req.staging_target_path, 'staging_target_path');
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        await staging.unstage(stagingPath);
        let found;
        try { found = backendFor(req.volume_id); } catch { return {}; }
        await found.backend.detach(found.ref.name, callOf(req));
        return {};
      }));
    },

    async NodePublishVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const targetPath = path(req.target_path, 'target_path');
      const cap = parseCapability(req.volume_capability);
      const stagingPath = path(req.staging_target_path, 'staging_target_path');
      const { ref, pool, backend } = backendFor(req.volume_id);
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const rec = await backend.getVolume(ref.name, callOf(req));
        if (!rec) throw notFound(`volume ${req.volume_id} not found on node ${ctx.nodeId}`);
        if (rec.mode !== cap.mode) throw invalidArgument(`volume ${req.volume_id} is a ${rec.mode} volume; ${cap.mode} access was requested`);
        if (cap.mode === 'filesystem' && !(await staging.mounter.isMounted(stagingPath))) {
          throw new CsiError(status.FAILED_PRECONDITION, `volume ${req.volume_id} is not staged at ${stagingPath}; call NodeStageVolume first`);
        }
        const attachment = await backend.attach(ref.name, { ...callOf(req), publishContext: req.publish_context ?? {} });
        await staging.publish({
          attachment, stagingPath, targetPath, mode: cap.mode,
          readonly: Boolean(req.readonly) || READ_ONLY_MODES.has(cap.access),
          mountOptions: pool.type === 'nfs' ? [] : mountOptions(cap, rec.params),
        });
        return {};
      }));
    },

    async NodeUnpublishVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const targetPath = path(req.target_path, 'target_path');
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        await staging.unpublish(targetPath);
        return {};
      }));
    },

    async NodeGetVolumeStats(req) {
      requireField(req.volume_id, 'volume_id');
      requireField(req.volume_path, 'volume_path');
      const { ref, backend } = backendFor(req.volume_id);
      // A shared pool's store may be unreachable (NFS server down) while the volume is mounted
      // here: then the answer is the volume's condition, not an error.
      const rec = await backend.getVolume(ref.name, callOf(req)).catch((e: unknown) => {
        if (e instanceof StorageError && e.kind === 'unavailable') return null;
        throw e;
      });
      if (rec === undefined) throw notFound(`volume ${req.volume_id} not found on node ${ctx.nodeId}`);
      const volumePath = lookupPath(req.volume_path);
      return guarded(async () => {
        // mountinfo first: stat() on a dead NFS server's mount would never return.
        const mounted = await staging.mounter.isMounted(volumePath);
        if (!mounted) {
          if ((await existingKind(volumePath, 'volume_path')) === undefined) throw notFound(`volume_path ${volumePath} does not exist`);
          throw notFound(`volume ${req.volume_id} is not mounted at ${volumePath}`);
        }
        const backendCondition = await backend.condition(ref.name);
        if (backendCondition.abnormal || rec === null) {
          return { usage: [], volume_condition: backendCondition.abnormal ? backendCondition : { abnormal: true, message: `pool of volume ${req.volume_id} is unreachable` } };
        }
        const kind = await existingKind(volumePath, 'volume_path');
        if (kind === 'dir') {
          const usage = await filesystemUsage(volumePath).catch((e: Error) => e);
          if (usage instanceof Error) return { usage: [], volume_condition: { abnormal: true, message: `cannot read ${volumePath}: ${usage.message}` } };
          return { usage: usage.map(toUsage), volume_condition: backendCondition };
        }
        const size = await blockDeviceSize(volumePath);
        return { usage: [{ unit: 'BYTES', total: String(size), available: '0', used: '0' }], volume_condition: backendCondition };
      });
    },

    async NodeExpandVolume(req) {
      requireField(req.volume_id, 'volume_id');
      requireField(req.volume_path, 'volume_path');
      const { ref, pool, backend } = backendFor(req.volume_id);
      const rec = await backend.getVolume(ref.name, callOf(req));
      if (!rec) throw notFound(`volume ${req.volume_id} not found on node ${ctx.nodeId}`);
      const volumePath = lookupPath(req.volume_path);
      const cap: Req = req.volume_capability;
      const block = cap?.access_type === 'block' || rec.mode === 'block';
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        if (!(await existingKind(volumePath, 'volume_path'))) throw notFound(`volume_path ${volumePath} does not exist`);
        if (!block && traitsOf(pool.type).nodeExpand) await staging.expand(volumePath);
        return { capacity_bytes: String(rec.sizeBytes) };
      }));
    },
  };
}

function toUsage(u: { unit: string; total: number; available: number; used: number }) {
  return { unit: u.unit, total: String(u.total), available: String(u.available), used: String(u.used) };
}

