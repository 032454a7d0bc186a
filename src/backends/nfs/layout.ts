// Where things live on an nfs pool's export (paths relative to the export's root):
//   <subdir>/                          a volume's data (the `subdir` template, default its name)
//   .poolcsi/volumes/<name>.json       its state: size, source, PVC, dir, complete marker
//   .poolcsi/snapshots/<vol>@<snap>/   a snapshot's copy, and <vol>@<snap>.json its state
//   .poolcsi-archive/<name>-<stamp>/   volumes deleted with onDelete: archive
// Every top-level name starting with ".poolcsi" is reserved: no template may produce one, so
// no volume directory can collide with the state or the archive.
import { SEGMENT, VARIABLE } from '../../pools/nfs-grammar.js';
import { invalid } from '../errors.js';
import type { PvcRef } from '../types.js';

export const STATE_DIR = '.poolcsi';
export const ARCHIVE_DIR = '.poolcsi-archive';
export const DEFAULT_SUBDIR = '${pv.name}';

/** A volume's directory under the export, from the template; values are checked after substitution. */
export function renderSubdir(template: string, name: string, pvc?: PvcRef): string {
  const values: Record<string, string | undefined> = {
    'pv.name': pvc?.pvName ?? name,
    'pvc.name': pvc?.name,
    'pvc.namespace': pvc?.namespace,
    'volume.name': name,
  };
  const out = template.replace(VARIABLE, (_, v: string) => {
    const value = values[v];
    if (!value) throw invalid(`subdir template needs \${${v}}, which this request does not carry (add --extra-create-metadata to csi-provisioner)`);
    return value;
  });
  const segments = out.split('/');
  for (const seg of segments) {
    if (!SEGMENT.test(seg) || seg === '.' || seg === '..') throw invalid(`volume directory "${out}" has an unusable segment "${seg}"`);
  }
  if (segments[0]!.startsWith('.poolcsi')) throw invalid(`volume directory "${out}" would collide with poolcsi's own ".poolcsi*" names`);
  return out;
}

/** A sortable, dated archive name: <name>-20261201T193500Z. */
export function archiveName(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${name}-${stamp}`;
}
