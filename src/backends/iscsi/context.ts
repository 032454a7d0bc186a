// How a node reaches a volume of an `iscsi` pool: transport `iscsi` (node/transports/iscsi.ts).
//   iscsi.target   the volume's target IQN
//   iscsi.lun      its LUN
//   iscsi.portals  host:port list (comma-joined)
// The initiator name comes with ControllerPublishVolume's publish_context. No CHAP secret here:
// the context lands in the PV.
import type { IscsiExportPool } from '../../pools/schema.js';
import type { NodeContext } from '../types.js';
import { lunRef } from './names.js';

export function iscsiNodeContext(pool: IscsiExportPool, name: string): NodeContext {
  const ref = lunRef(pool, name);
  return { transport: 'iscsi', descriptor: { target: ref.target, lun: String(ref.lun), portals: pool.portals.join(',') } };
}
