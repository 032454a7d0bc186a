// What a volume of an `iscsi` pool is called on the storage host: its target IQN (under the
// pool's iqnPrefix) and its LIO backstore (the pool id and the LV name, unique on the host).
import { createHash } from 'node:crypto';
import { iqnUnique } from '../../node/transports/iscsi-names.js';
import type { IscsiExportPool } from '../../pools/schema.js';
import { volumeLvName } from '../lvm/names.js';
import type { LunRef } from './lio.js';

/** Every volume is LUN 0 of its own target. */
export const VOLUME_LUN = 0;
const MAX_BACKSTORE = 64;

export function targetIqn(pool: IscsiExportPool, name: string): string {
  return `${pool.iqnPrefix}:${iqnUnique(pool.iqnPrefix, `${pool.id}.${name}`)}`;
}

export function backstoreName(pool: IscsiExportPool, name: string): string {
  const n = `${pool.id}.${volumeLvName(name)}`;
  return n.length <= MAX_BACKSTORE ? n : `${pool.id}.h.${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;
}

/** The LUN's unit serial (its SCSI id, the WWID multipath groups paths by): a UUID derived from
 * the pool and the volume, so every path and every restore of the target shows the same one. */
export function unitSerial(pool: IscsiExportPool, name: string): string {
  const h = createHash('sha256').update(`${pool.id}\0${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function lunRef(pool: IscsiExportPool, name: string): LunRef {
  return { target: targetIqn(pool, name), backstore: backstoreName(pool, name), lun: VOLUME_LUN, serial: unitSerial(pool, name) };
}
