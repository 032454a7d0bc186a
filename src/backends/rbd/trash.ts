// Removing images that clones may still read. clone v2 keeps a removed snapshot (in the
// snapshot trash namespace) while children read it, and refuses `rbd rm` of its image; such an
// image goes to the RBD trash instead, and is purged once no clone reads it any more.
import type { Logger } from '../../observe/log.js';
import type { Images } from './images.js';
import type { ParentRef } from './report.js';

/** Volume names (pools/ids.ts): the trash entries a sweep may purge. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}$/;

/** Removes an image without snapshots of its own; to the trash when clones still read it. */
export async function removeImage(img: Images, name: string, parent: ParentRef | undefined, log: Logger): Promise<void> {
  const r = await img.remove(name);
  if (r === 'has-clones') {
    await img.trashMove(name);
    log.info({ image: name }, 'image moved to the trash: clones still read it');
  }
  if (parent) await purgeParents(img, parent, log);
}

/** After a clone went (deleted or flattened): purge trashed ancestors no clone reads any more. */
export async function purgeParents(img: Images, parent: ParentRef, log: Logger): Promise<void> {
  let p: ParentRef | undefined = parent;
  while (p?.trash && p.id && p.pool === img.pool) {
    const snaps = await img.snapsById(p.id);
    if (!snaps || snaps.length) return;
    const next: ParentRef | undefined = (await img.infoById(p.id))?.parent;
    if (!(await img.trashRemove(p.id))) return;
    log.info({ image: p.image, id: p.id }, 'purged image from the trash: its last clone is gone');
    p = next;
  }
}

/** Crash leftovers: expired trash entries with a volume name and no snapshot left (what
 * `rbd trash purge` would remove). */
export async function sweepTrash(img: Images, log: Logger): Promise<void> {
  for (const t of await img.trashList()) {
    if (!t.expired || t.source !== 'USER' || !VOLUME_NAME.test(t.name)) continue;
    const snaps = await img.snapsById(t.id);
    if (snaps && snaps.length === 0 && (await img.trashRemove(t.id))) log.info({ image: t.name, id: t.id }, 'purged leftover image from the trash');
  }
}
