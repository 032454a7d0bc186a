// LIO's configfs tree on a storage host and the argv that reads and changes it: coreutils and
// findutils only (mkdir, ln, find -delete, rmdir, dd with the value on stdin), never a shell
// string. Under User-Mode Linux each targetcli run costs 5-6 s of Python start-up; these are
// C tools. Persistence is rtslib's own: `targetctl save` writes the file `targetctl restore`
// (the target service) reads at boot, under a host-wide lock so that two saves never interleave.
//   core/iblock_N/<backstore>         block storage object (control, udev_path, wwn, enable)
//   core/fileio_N/<backstore>         file storage object (an `iscsi` pool's file backing)
//   iscsi/<iqn>/tpgt_1/lun/lun_0/     LUN, a symlink to the storage object
//   iscsi/<iqn>/tpgt_1/np/0.0.0.0:P   network portal (shared by every target on the port)
//   iscsi/<iqn>/tpgt_1/acls/<init>/lun_0/  mapped LUN, a symlink to the LUN; write_protect
import type { Program } from '../lvm/commands.js';

export const CONFIGFS = '/sys/kernel/config/target';
/** The lock every save on the host holds (flock(1), released when targetctl exits). */
export const LOCK_FILE = '/run/poolcsi-lio.lock';
/** How long a save waits for the lock: each takes seconds of Python on a slow host. */
export const LOCK_WAIT_SECONDS = 240;

export const targetDir = (target: string) => `${CONFIGFS}/iscsi/${target}`;
export const tpgDir = (target: string) => `${targetDir(target)}/tpgt_1`;
export const lunDir = (target: string, lun: number) => `${tpgDir(target)}/lun/lun_${lun}`;
export const aclDir = (target: string, initiator: string) => `${tpgDir(target)}/acls/${initiator}`;
export const npDir = (target: string, port: number) => `${tpgDir(target)}/np/0.0.0.0:${port}`;
/** The backstore plugins poolcsi makes storage objects with: a device, or an image file. */
export type Plugin = 'iblock' | 'fileio';
export const PLUGINS: readonly Plugin[] = ['iblock', 'fileio'];
export const hbaDir = (index: number, plugin: Plugin = 'iblock') => `${CONFIGFS}/core/${plugin}_${index}`;

/** Every HBA and storage object (rtslib renumbers HBAs on restore: find objects by name). */
export const listCoreCmd = (): Program => ({ program: 'find', args: [`${CONFIGFS}/core`, '-mindepth', '1', '-maxdepth', '2', '-type', 'd'] });
/** ACLs with their mapped LUNs, portals and LUNs of a target (exit 1 when it is not there). */
export const listTpgCmd = (target: string): Program => {
  const t = tpgDir(target);
  return { program: 'find', args: [`${t}/acls`, `${t}/np`, `${t}/lun`, '-mindepth', '1', '-maxdepth', '2', '-type', 'd'] };
};
/** The symlinks under a directory (LUN and mapped-LUN links). */
export const listLinksCmd = (dir: string): Program => ({ program: 'find', args: [dir, '-type', 'l'] });
/** Unlinks every symlink under `dir`: a LUN or mapped LUN can only be removed once unlinked. */
export const unlinkAllCmd = (dir: string): Program => ({ program: 'find', args: [dir, '-type', 'l', '-delete'] });
export const mkdirCmd = (dirs: readonly string[]): Program => ({ program: 'mkdir', args: ['-p', ...dirs] });
export const rmdirCmd = (dirs: readonly string[]): Program => ({ program: 'rmdir', args: [...dirs] });
/** -T: an existing link is "File exists", never a link inside the directory it points to. */
export const linkCmd = (to: string, at: string): Program => ({ program: 'ln', args: ['-sT', to, at] });
/** Writes stdin to one attribute file in one write(2): the value (a CHAP secret too) is the run's
 * input, never an argument, and dd echoes nothing back (tee would print it). */
export const writeCmd = (file: string): Program => ({ program: 'dd', args: [`of=${file}`, 'conv=notrunc', 'status=none'] });
/** Reads attribute files, each as `path:value` (a missing file is an error line, exit 2). */
export const readCmd = (files: readonly string[]): Program => ({ program: 'grep', args: ['-H', '', ...files] });
/** Where `targetctl save` writes and the target service restores from at boot. */
export const SAVED_CONFIG = '/etc/rtslib-fb-target/saveconfig.json';
/** How many lines of the saved configuration mention one of `names` ("0", exit 1: none; no
 * output, exit 2: no file). */
export const savedMentionsCmd = (names: readonly string[]): Program =>
  ({ program: 'grep', args: ['-c', '-F', ...names.flatMap((n) => ['-e', n]), SAVED_CONFIG] });
export const saveCmd = (): Program => ({ program: 'flock', args: ['-w', String(LOCK_WAIT_SECONDS), LOCK_FILE, 'targetctl', 'save'] });

export interface CoreView {
  /** HBAs in use, as `<plugin>_<index>`. */
  hbas: Set<string>;
  /** HBAs that hold a storage object. */
  occupied: Set<string>;
  /** storage object name → its directory. */
  objects: Map<string, string>;
}

export function parseCore(out: string): CoreView {
  const view: CoreView = { hbas: new Set(), occupied: new Set(), objects: new Map() };
  const base = `${CONFIGFS}/core/`;
  for (const line of out.split('\n')) {
    if (!line.startsWith(base)) continue;
    const m = /^((?:iblock|fileio)_\d+)(?:\/([^/]+))?$/.exec(line.slice(base.length));
    if (!m) continue;
    view.hbas.add(m[1]!);
    if (m[2]) {
      view.objects.set(m[2], line);
      view.occupied.add(m[1]!);
    }
  }
  return view;
}

/** Where our HBA indexes start: rtslib (targetcli, a restore) numbers its own from 0 up. */
export const HBA_BASE = 1 << 16;
const HBA_SPAN = 2 ** 31 - HBA_BASE;

/** The HBA index a storage object asks for first: derived from its name (FNV-1a), so two
 * volumes exported at once by different writers pick different HBAs. An HBA shared by two
 * objects breaks rtslib's `targetctl clear` (the target service's stop), which removes each
 * object's HBA with it; and a retry finds its own HBA again. */
export function preferredHba(name: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(name, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return HBA_BASE + (h % HBA_SPAN);
}

/** The HBA for a new storage object: its preferred one unless another object holds it (an
 * empty one is a crashed attempt's), else the next such index. */
export function hbaFor(view: CoreView, name: string, plugin: Plugin = 'iblock'): number {
  let i = preferredHba(name);
  while (view.occupied.has(`${plugin}_${i}`)) i = i + 1 >= HBA_BASE + HBA_SPAN ? HBA_BASE : i + 1;
  return i;
}

export interface TpgView { acls: Map<string, string[]>; portals: string[]; luns: string[] }

/** Parses listTpgCmd's output: ACL name → its mapped LUN dirs, portal dirs, LUN dirs. */
export function parseTpg(target: string, out: string): TpgView {
  const base = `${tpgDir(target)}/`;
  const view: TpgView = { acls: new Map(), portals: [], luns: [] };
  for (const line of out.split('\n')) {
    if (!line.startsWith(base)) continue;
    const parts = line.slice(base.length).split('/');
    if (parts[0] === 'acls' && parts.length === 2) {
      if (!view.acls.has(parts[1]!)) view.acls.set(parts[1]!, []);
    } else if (parts[0] === 'acls' && parts.length === 3 && /^lun_\d+$/.test(parts[2]!)) {
      const l = view.acls.get(parts[1]!) ?? [];
      l.push(line);
      view.acls.set(parts[1]!, l);
    } else if (parts[0] === 'np' && parts.length === 2) view.portals.push(line);
    else if (parts[0] === 'lun' && parts.length === 2 && /^lun_\d+$/.test(parts[1]!)) view.luns.push(line);
  }
  return view;
}

/** `path:value` lines of readCmd → path → value. */
export function parseRead(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.lastIndexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

const lines = (stderr: string) => stderr.split('\n').map((l) => l.trim()).filter(Boolean);

/** Every refusal says the object is not there (a removal's retry). */
export function onlyMissing(stderr: string): boolean {
  const l = lines(stderr);
  return l.length > 0 && l.every((x) => /No such file or directory$/.test(x));
}

/** Every refusal says the link is already there (ln -sT of a LUN that is linked). */
export function onlyExisting(stderr: string): boolean {
  const l = lines(stderr);
  return l.length > 0 && l.every((x) => /File exists$/.test(x));
}

/** Every refusal is a missing object or an HBA that still holds another storage object. */
export function onlyMissingOrSharedHba(stderr: string): boolean {
  const l = lines(stderr);
  return l.length > 0 && l.every((x) => /No such file or directory$/.test(x) || /\/core\/(iblock|fileio)_\d+': Directory not empty$/.test(x));
}
