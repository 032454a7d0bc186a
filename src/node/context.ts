// volume_context: everything a node needs to stage a volume, put there by CreateVolume.
//   pool, type, mode                       always
//   fsType, mkfsOptions, mountOptions     when set (mountOptions comma-joined)
//   transport                              bind | lvm | rbd | nfs (iscsi next)
//   <transport>.<key>                      the transport's descriptor (transports/*.ts)
// On the node it is external input (anyone who writes a PV spec writes it): parseVolumeContext
// checks every value; the transport checks its descriptor.
import { POOL_ID } from '../pools/schema.js';
import { NodeError } from './errors.js';
import { SUPPORTED_FS } from './filesystem.js';
import type { Descriptor } from './transports/types.js';

export interface VolumeContext {
  pool: string;
  type: string;
  mode: 'filesystem' | 'block';
  fsType: string;
  mkfsOptions: string;
  mountOptions: string[];
  transport: string;
  descriptor: Descriptor;
}

export const TRANSPORT_KEY = 'transport';

/** The flat map for CreateVolume's answer (empty values are left out). */
export function buildVolumeContext(v: Omit<VolumeContext, 'mountOptions'> & { mountOptions: string }): Record<string, string> {
  const out: Record<string, string> = { pool: v.pool, type: v.type, mode: v.mode };
  if (v.fsType) out.fsType = v.fsType;
  if (v.mkfsOptions) out.mkfsOptions = v.mkfsOptions;
  if (v.mountOptions) out.mountOptions = v.mountOptions;
  out[TRANSPORT_KEY] = v.transport;
  for (const [k, val] of Object.entries(v.descriptor)) out[`${v.transport}.${k}`] = val;
  return out;
}

const MOUNT_OPTION = /^[A-Za-z0-9_.=:+-]{1,128}$/;
// Options that would change what the mount call does rather than how the filesystem behaves.
const REFUSED_OPTIONS = /^(remount|bind|rbind|move|make-.*|x-.*|X-.*|loop|loop=.*|offset=.*|sizelimit=.*|owner|user|users|helper=.*)$/;
const MKFS_OPTION = /^[A-Za-z0-9_.,=:+\-^/]{1,256}$/;

const bad = (field: string, why: string) => new NodeError('invalid', `volume_context ${field}: ${why}`);

/** Mount options from volume_context or a capability's mount_flags, each checked. */
export function checkMountOptions(list: readonly string[], field: string): string[] {
  for (const o of list) {
    if (!MOUNT_OPTION.test(o) || REFUSED_OPTIONS.test(o)) throw bad(field, `"${o.slice(0, 80)}" is not an allowed mount option`);
  }
  return [...list];
}

/** The checked volume_context; NodeError 'precondition' when it carries no transport (a PV from before it did). */
export function parseVolumeContext(raw: Readonly<Record<string, string>> | undefined, volumeId: string): VolumeContext {
  const c = raw ?? {};
  const transport = c[TRANSPORT_KEY];
  if (transport === undefined || transport === '') {
    throw new NodeError('precondition', `volume ${volumeId}: volume_context has no "transport": the PV was created by a poolcsi `
      + 'that did not describe how to reach the volume. Recreate the PV with the volume_context CreateVolume returns now '
      + '(or restore from a snapshot); the node plugin no longer reads pool definitions or credentials');
  }
  if (!/^[a-z][a-z0-9]{0,15}$/.test(transport)) throw bad('transport', `"${transport.slice(0, 40)}" is not a transport name`);
  const pool = c.pool ?? '';
  if (!POOL_ID.test(pool)) throw bad('pool', `"${pool.slice(0, 40)}" is not a pool id`);
  const type = c.type ?? '';
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(type)) throw bad('type', `"${type.slice(0, 40)}" is not a pool type`);
  const mode = c.mode;
  if (mode !== 'filesystem' && mode !== 'block') throw bad('mode', 'must be filesystem or block');
  const fsType = c.fsType ?? '';
  if (fsType && !(SUPPORTED_FS as readonly string[]).includes(fsType)) throw bad('fsType', `"${fsType.slice(0, 40)}" is not supported (${SUPPORTED_FS.join(', ')})`);
  const mkfsOptions = c.mkfsOptions ?? '';
  for (const o of mkfsOptions.split(/\s+/).filter(Boolean)) if (!MKFS_OPTION.test(o)) throw bad('mkfsOptions', `"${o.slice(0, 80)}" is not a plain option`);
  const mountOptions = checkMountOptions((c.mountOptions ?? '').split(',').filter(Boolean), 'mountOptions');
  const prefix = `${transport}.`;
  const descriptor: Record<string, string> = {};
  for (const [k, v] of Object.entries(c)) {
    if (!k.startsWith(prefix)) continue;
    if (typeof v !== 'string') throw bad(k, 'is not a string');
    descriptor[k.slice(prefix.length)] = v;
  }
  return { pool, type, mode, fsType, mkfsOptions, mountOptions, transport, descriptor };
}
