// The Node service: stage, publish, stats, expand, info. The node uses only what the
// controller handed it: volume_context (node/context.ts) names a transport and its descriptor
// (node/transports/), NodeStage keeps what it learned in the stash (node/stash.ts), and every
// later call reads the stash. No pool definition, no credentials, no controller-side store.
import { status } from '@grpc/grpc-js';
import { dirname } from 'node:path';
import type { Runner } from '../exec/index.js';
import { checkMountOptions, parseVolumeContext } from '../node/context.js';
import { isNetworkFs } from '../node/mount.js';
import { readMounts, mountAt } from '../sys/mountinfo.js';
import { checkPathShape, existingKind, PathError } from '../node/paths.js';
import { Staging, StagingError } from '../node/staging.js';
import { MOUNT_DIR, mountDir, readStash, removeStash, writeStash, type StageStash } from '../node/stash.js';
import { blockDeviceSize, filesystemUsage } from '../sys/stats.js';
import { transports, type Stashed, type Transport } from '../node/transports/index.js';
import { parseCapability, READ_ONLY_MODES } from './capability.js';
import { requireField, withLocks, TOPOLOGY_KEY, type DriverContext } from './context.js';
import { CsiError, failedPrecondition, invalidArgument, notFound } from './errors.js';
import type { Handler } from './rpc.js';

const NODE_CAPS = ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER'];

/** Node-side errors to CSI: a bad path is the request's fault, a conflicting mount is ALREADY_EXISTS (NodeError: errors.ts). */
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
  const kinds = transports(runner);
  const path = (p: string, field: string) => {
    try { return checkPathShape(p, field, ctx.pathPrefixes); } catch (e) { throw invalidArgument((e as Error).message); }
  };

  /** volume_path names where a volume is published: a relative path names none (NOT_FOUND). */
  const lookupPath = (p: string) => {
    if (!p.startsWith('/')) throw notFound(`volume_path "${p}" is not absolute, so no volume is published there`);
    return path(p, 'volume_path');
  };

  function transportOf(kind: string): Transport {
    const t = kinds.get(kind);
    if (!t) throw invalidArgument(`volume_context transport "${kind}" is not one this node knows (${[...kinds.keys()].join(', ')})`);
    return t;
  }

  const stashed = (s: StageStash): Stashed => ({ descriptor: s.descriptor, stash: s.attached?.stash ?? {}, path: s.attached?.path ?? '' });

  /**
   * The stash of the volume published at `volumePath`: from staging_target_path when the CO
   * sends it, else from the staging mount the target is a bind of (same device and root,
   * mounted at <staging>/mount). undefined for block volumes without a staging path.
   */
  async function stashFor(volumeId: string, volumePath: string, stagingTarget: string | undefined): Promise<{ staging: string; stash: StageStash } | undefined> {
    if (stagingTarget) {
      const stagingPath = path(stagingTarget, 'staging_target_path');
      const stash = await readStash(stagingPath);
      if (!stash || stash.volumeId !== volumeId) throw notFound(`volume ${volumeId} is not staged at ${stagingPath}`);
      return { staging: stagingPath, stash };
    }
    const mounts = await readMounts();
    const target = mountAt(mounts, volumePath);
    if (!target) return undefined;
    for (const m of mounts) {
      if (m === target || m.majorMinor !== target.majorMinor || m.root !== target.root || !m.mountPoint.endsWith(`/${MOUNT_DIR}`)) continue;
      const stagingPath = dirname(m.mountPoint);
      const stash = await readStash(stagingPath).catch(() => undefined);
      if (stash?.volumeId === volumeId) return { staging: stagingPath, stash };
    }
    return undefined;
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
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const vc = parseVolumeContext(req.volume_context, req.volume_id);
        if (vc.mode !== cap.mode) throw invalidArgument(`volume ${req.volume_id} is a ${vc.mode} volume; ${cap.mode} access was requested`);
        const transport = transportOf(vc.transport);
        const descriptor = transport.parse(vc.descriptor);
        const mountOptions = [...new Set([...vc.mountOptions, ...checkMountOptions(cap.mountFlags, 'mount_flags')])];
        // A transport that mounts the filesystem itself (nfs) takes the options; its binds take none.
        const bindOptions = transport.takesMountOptions ? [] : mountOptions;
        const readonly = READ_ONLY_MODES.has(cap.access);
        await staging.prepare(stagingPath);
        const prior = await readStash(stagingPath);
        if (prior && prior.volumeId !== req.volume_id) throw new CsiError(status.ALREADY_EXISTS, `staging_target_path ${stagingPath} holds volume ${prior.volumeId}`);
        if (prior && (prior.transport !== vc.transport || JSON.stringify(prior.descriptor) !== JSON.stringify(descriptor) || prior.mode !== vc.mode || prior.readonly !== readonly)) {
          throw new CsiError(status.ALREADY_EXISTS, `volume ${req.volume_id} is already staged at ${stagingPath} with another volume_context or access mode`);
        }
        const base: StageStash = {
          version: 1, volumeId: req.volume_id, state: 'attaching', mode: vc.mode, fsType: cap.fsType || vc.fsType,
          mountOptions: bindOptions, readonly, transport: vc.transport, descriptor: { ...descriptor },
        };
        // Intent first: a crash after the attach still leaves what NodeUnstage needs to detach.
        if (prior?.state !== 'staged') await writeStash(stagingPath, base);
        const attached = await transport.attach(descriptor, {
          ...(req.secrets ? { secrets: req.secrets } : {}), publishContext: req.publish_context ?? {}, readonly,
          ...(transport.takesMountOptions ? { mountOptions } : {}),
        });
        const attachment = attached.kind === 'device' ? { kind: 'device' as const, path: attached.path } : { kind: 'directory' as const, path: attached.path };
        await staging.stage({
          attachment, stagingPath, mode: vc.mode, fsType: base.fsType, mkfsOptions: vc.mkfsOptions, mountOptions: bindOptions, readonly: attached.readonly === true,
        });
        await writeStash(stagingPath, {
          ...base, state: 'staged', attached: { kind: attached.kind, path: attached.path, readonly: attached.readonly === true, stash: attached.stash },
        });
        return {};
      }));
    },

    async NodeUnstageVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const stagingPath = path(req.staging_target_path, 'staging_target_path');
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const stash = await readStash(stagingPath);
        if (stash && stash.volumeId !== req.volume_id) throw failedPrecondition(`staging_target_path ${stagingPath} holds volume ${stash.volumeId}, not ${req.volume_id}`);
        await staging.unstage(stagingPath);
        if (stash) {
          await transportOf(stash.transport).detach(stashed(stash));
          await removeStash(stagingPath);
        }
        return {};
      }));
    },

    async NodePublishVolume(req) {
      requireField(req.volume_id, 'volume_id');
      const targetPath = path(req.target_path, 'target_path');
      const cap = parseCapability(req.volume_capability);
      const stagingPath = path(req.staging_target_path, 'staging_target_path');
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const stash = await readStash(stagingPath);
        if (!stash || stash.state !== 'staged' || stash.volumeId !== req.volume_id || !stash.attached) {
          throw failedPrecondition(`volume ${req.volume_id} is not staged at ${stagingPath}; call NodeStageVolume first`);
        }
        if (stash.mode !== cap.mode) throw invalidArgument(`volume ${req.volume_id} is a ${stash.mode} volume; ${cap.mode} access was requested`);
        if (cap.mode === 'filesystem' && !(await staging.mounter.isMounted(mountDir(stagingPath)))) {
          throw failedPrecondition(`volume ${req.volume_id} is not mounted at ${mountDir(stagingPath)}; call NodeStageVolume again`);
        }
        const a = stash.attached;
        await staging.publish({
          attachment: a.kind === 'device' ? { kind: 'device', path: a.path } : { kind: 'directory', path: a.path },
          stagingPath, targetPath, mode: cap.mode,
          readonly: Boolean(req.readonly) || READ_ONLY_MODES.has(cap.access) || stash.readonly,
          deviceReadonly: a.readonly,
          mountOptions: transportOf(stash.transport).takesMountOptions
            ? [] // the transport's mount took them at stage
            : [...new Set([...stash.mountOptions, ...checkMountOptions(cap.mountFlags, 'mount_flags')])],
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
      const volumePath = lookupPath(req.volume_path);
      return guarded(async () => {
        // mountinfo first: stat() on the mount of a dead NFS server would never return.
        const mount = await staging.mounter.at(volumePath);
        if (!mount) {
          if ((await existingKind(volumePath, 'volume_path')) === undefined) throw notFound(`volume_path ${volumePath} does not exist`);
          throw notFound(`volume ${req.volume_id} is not mounted at ${volumePath}`);
        }
        const found = await stashFor(req.volume_id, volumePath, req.staging_target_path || undefined);
        const condition = found
          ? await transportOf(found.stash.transport).condition(stashed(found.stash)).catch((e: Error) => ({ abnormal: true, message: `cannot read the volume's condition: ${e.message}` }))
          : { abnormal: false, message: 'block device present (no staging_target_path given: the transport was not asked)' };
        // An unhealthy network filesystem is reported, not stat()ed (that could hang this call).
        if (found && condition.abnormal && isNetworkFs(mount.fsType)) return { usage: [], volume_condition: condition };
        const kind = await existingKind(volumePath, 'volume_path');
        if (kind === undefined) throw notFound(`volume_path ${volumePath} does not exist`);
        if (!found && kind === 'dir') throw notFound(`volume ${req.volume_id} is not published at ${volumePath}`);
        if (kind === 'dir') {
          const usage = await filesystemUsage(volumePath).catch((e: Error) => e);
          if (usage instanceof Error) return { usage: [], volume_condition: { abnormal: true, message: `cannot read ${volumePath}: ${usage.message}` } };
          return { usage: usage.map(toUsage), volume_condition: condition };
        }
        const size = await blockDeviceSize(volumePath);
        return { usage: [{ unit: 'BYTES', total: String(size), available: '0', used: '0' }], volume_condition: condition };
      });
    },

    async NodeExpandVolume(req) {
      requireField(req.volume_id, 'volume_id');
      requireField(req.volume_path, 'volume_path');
      const volumePath = lookupPath(req.volume_path);
      return withLocks(ctx, [req.volume_id], () => guarded(async () => {
        const kind = await existingKind(volumePath, 'volume_path');
        if (!kind) throw notFound(`volume_path ${volumePath} does not exist`);
        const found = await stashFor(req.volume_id, volumePath, req.staging_target_path || undefined);
        if (!found) {
          // A block volume published without a staging path given: nothing to grow on the node.
          if (kind !== 'dir' && (await staging.mounter.isMounted(volumePath))) return { capacity_bytes: String(await blockDeviceSize(volumePath)) };
          throw notFound(`volume ${req.volume_id} is not published at ${volumePath}`);
        }
        const { stash } = found;
        const a = stash.attached;
        if (stash.state !== 'staged' || !a) throw failedPrecondition(`volume ${req.volume_id} is not staged completely at ${found.staging}`);
        await transportOf(stash.transport).rescan?.(stashed(stash));
        if (a.kind !== 'device') return {};
        if (stash.mode === 'filesystem' && !a.readonly) await staging.expand(found.staging, a.path);
        return { capacity_bytes: String(await blockDeviceSize(a.path)) };
      }));
    },
  };
}

function toUsage(u: { unit: string; total: number; available: number; used: number }) {
  return { unit: u.unit, total: String(u.total), available: String(u.available), used: String(u.used) };
}
