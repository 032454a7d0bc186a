// LV names for volumes and snapshots. Volume names are used as they are when LVM accepts
// them (so `lvs` shows pvc-<uuid>); snapshot LVs get a "snap." prefix (LVM reserves names
// starting with "snapshot", which is how the CO names snapshots). Names LVM would refuse are
// replaced by a hash of the name. The tags, not the LV name, say what an LV is.
import { createHash } from 'node:crypto';
import { isValidLvName, MAX_LV_NAME } from '../../node/transports/grammar.js';

export { isValidLvName };

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 20);

export function volumeLvName(volume: string): string {
  return isValidLvName(volume) ? volume : `pv.${hash(volume)}`;
}

export function snapshotLvName(volume: string, snapshot: string): string {
  const n = `snap.${snapshot}`;
  return isValidLvName(n) ? n : `snap.${hash(`${volume}@${snapshot}`)}`;
}

/** The temporary copy-on-write snapshot a thick clone copies from. */
export function cloneSourceLvName(targetLv: string): string {
  return `${targetLv.slice(0, MAX_LV_NAME - 4)}.src`;
}
