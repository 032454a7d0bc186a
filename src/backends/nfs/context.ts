// How a node reaches an nfs volume (transport `nfs`): the pool's server, the export plus the
// volume's directory (recorded at create: the subdir template decides it), the pool's options.
// StorageClass mountOptions travel as volume_context mountOptions; the nfs transport adds them.
import type { NfsPool } from '../../pools/schema.js';
import type { NodeContext, VolumeLocation } from '../types.js';

/** The volume's directory under the export: its recorded location, else its name (the default template). */
export function nfsVolumeDir(v: VolumeLocation): string {
  return v.location ?? v.name;
}

export function nfsNodeContext(pool: NfsPool, v: VolumeLocation): NodeContext {
  const dir = nfsVolumeDir(v);
  const descriptor: Record<string, string> = {
    server: pool.server,
    export: pool.export === '/' ? `/${dir}` : `${pool.export}/${dir}`,
  };
  if (pool.options.length) descriptor.options = pool.options.join(',');
  // Whether sizes are enforced (a server agent with XFS project quotas): said where the PV shows it.
  descriptor.sizeEnforced = pool.serverAgent?.quota === 'xfs-project' ? 'true' : 'false';
  descriptor.timeoutSeconds = String(pool.timeoutSeconds);
  return { transport: 'nfs', descriptor };
}
