// How a node reaches a volume of an `iscsi-luns` pool: transport `iscsi`, like an iscsi pool's,
// plus the SCSI id the LUN was claimed by, which the node checks before it uses the disk.
//   iscsi.target  iscsi.lun  iscsi.portals  iscsi.wwid
// The record's location is "<lun> <wwid>" (backend.ts writes it from the claim).
import type { IscsiLunsPool } from '../../pools/schema.js';
import { notFound } from '../errors.js';
import type { NodeContext, VolumeLocation } from '../types.js';

export const locationOf = (lun: number, wwid: string) => `${lun} ${wwid}`;

export function parseLocation(v: VolumeLocation): { lun: number; wwid: string } {
  const at = v.location?.indexOf(' ') ?? -1;
  const lun = at > 0 ? Number(v.location!.slice(0, at)) : NaN;
  if (!Number.isInteger(lun)) throw notFound(`volume ${v.name} has no claimed LUN`);
  return { lun, wwid: v.location!.slice(at + 1) };
}

export function iscsiLunsNodeContext(pool: IscsiLunsPool, v: VolumeLocation): NodeContext {
  const { lun, wwid } = parseLocation(v);
  return { transport: 'iscsi', descriptor: { target: pool.target, lun: String(lun), portals: pool.portals.join(','), wwid } };
}
