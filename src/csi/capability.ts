// Volume capabilities: parsing them from a request and checking them against a pool.
import { traitsOf, isLocal, modesOf } from '../backends/index.js';
import type { Pool, VolumeMode } from '../pools/schema.js';
import { invalidArgument, quote } from './errors.js';
import type { Req } from './rpc.js';

export interface Capability {
  mode: VolumeMode;
  access: string;
  fsType: string;
  mountFlags: string[];
}

const SINGLE_NODE = new Set(['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER']);
const MULTI_NODE = new Set(['MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER']);
export const READ_ONLY_MODES = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

export function parseCapability(c: Req, field = 'volume_capability'): Capability {
  if (!c) throw invalidArgument(`${field} is required`);
  const access = c.access_mode?.mode;
  if (!access || access === 'UNKNOWN') throw invalidArgument(`${field}.access_mode is required`);
  if (!SINGLE_NODE.has(access) && !MULTI_NODE.has(access)) throw invalidArgument(`${field}.access_mode ${quote(access)} is not a known access mode`);
  if (c.access_type === 'block' || (c.block && !c.mount)) return { mode: 'block', access, fsType: '', mountFlags: [] };
  if (c.access_type === 'mount' || c.mount) {
    const flags: string[] = c.mount?.mount_flags ?? [];
    for (const f of flags) {
      if (!/^[A-Za-z0-9_.,=:+-]+$/.test(f)) throw invalidArgument(`${field}.mount.mount_flags: ${quote(f)} is not a plain mount option`);
    }
    return { mode: 'filesystem', access, fsType: c.mount?.fs_type ?? '', mountFlags: flags };
  }
  throw invalidArgument(`${field} needs an access type (mount or block)`);
}

export function parseCapabilities(list: Req[] | undefined, field = 'volume_capabilities'): Capability[] {
  if (!list?.length) throw invalidArgument(`${field} is required`);
  return list.map((c, i) => parseCapability(c, `${field}[${i}]`));
}

/** Why `pool` cannot serve `cap`, or undefined when it can. */
export function unsupportedReason(pool: Pool, cap: Capability): string | undefined {
  const t = traitsOf(pool.type);
  if (!modesOf(pool).includes(cap.mode)) {
    const why = cap.mode === 'block' && t.blockReason ? `: ${t.blockReason}` : '';
    return `pool "${pool.id}" (type ${pool.type}) serves ${modesOf(pool).join(' and ')} volumes, not ${cap.mode}${why}`;
  }
  if (MULTI_NODE.has(cap.access)) {
    if (isLocal(pool)) return `pool "${pool.id}" is node-local: ${cap.access} needs a shared pool (nfs, rbd, iscsi, iscsi-luns, zfs-iscsi)`;
    if (!t.multiNode[cap.mode]) return `pool "${pool.id}" (type ${pool.type}) cannot give ${cap.access} access to ${cap.mode} volumes`;
  }
  if (cap.mode === 'filesystem' && cap.fsType && t.makesFilesystem && !['ext4', 'xfs', 'btrfs'].includes(cap.fsType)) {
    return `filesystem type "${cap.fsType}" is not supported (ext4, xfs, btrfs)`;
  }
  return undefined;
}

/** Checks a set of capabilities for one volume: one mode, every entry supported. */
export function checkCapabilities(pool: Pool, caps: Capability[]): VolumeMode {
  const modes = new Set(caps.map((c) => c.mode));
  if (modes.size > 1) throw invalidArgument('volume_capabilities mix block and mount access; a volume is one or the other');
  for (const c of caps) {
    const why = unsupportedReason(pool, c);
    if (why) throw invalidArgument(why);
  }
  return caps[0]!.mode;
}
