// argv for every LVM program poolcsi runs (never a shell string). Sizes are passed in bytes
// ("<n>b") so LVM does the only rounding (up to whole extents).
import { LV_FIELDS, VG_FIELDS } from './report.js';

export interface Program { program: string; args: string[] }

const REPORT = ['--reportformat', 'json', '--units', 'b', '--nosuffix'];
const addTags = (tags: readonly string[]) => tags.flatMap((t) => ['--addtag', t]);
const lv = (vg: string, name: string) => `${vg}/${name}`;

/** All LVs of the VG, or only the named ones ("vg/lv"). Hidden internal LVs are left out. */
export function lvsCmd(vg: string, names: readonly string[] = []): Program {
  return { program: 'lvs', args: [...REPORT, '-o', LV_FIELDS.join(','), ...(names.length ? names.map((n) => lv(vg, n)) : [vg])] };
}

export function vgsCmd(vgs: readonly string[] = []): Program {
  return { program: 'vgs', args: [...REPORT, '-o', VG_FIELDS.join(','), ...vgs] };
}

/** Every LV of every VG (for `poolcsi scan lvm`, which picks the thin pools). */
export function allLvsCmd(): Program {
  return { program: 'lvs', args: [...REPORT, '-o', LV_FIELDS.join(',')] };
}

export interface ThickLayout {
  /** Extra copies (raid1); 0 = none. */
  mirror: number;
  stripes: number;
  /** e.g. "64k"; only with stripes > 1. */
  stripeSize?: string;
}

export function layoutArgs(l: ThickLayout): string[] {
  const args: string[] = [];
  if (l.mirror > 0) args.push('--type', l.stripes > 1 ? 'raid10' : 'raid1', '-m', String(l.mirror));
  if (l.stripes > 1) {
    args.push('-i', String(l.stripes));
    if (l.stripeSize) args.push('-I', l.stripeSize);
  }
  return args;
}

/** A thick LV. --yes -Wy: wipe any old signature in its first sectors without asking. */
export function createThickCmd(vg: string, name: string, sizeBytes: number, layout: ThickLayout, tags: readonly string[]): Program {
  return {
    program: 'lvcreate',
    args: ['-q', '--yes', '-W', 'y', '-n', name, '-L', `${sizeBytes}b`, ...layoutArgs(layout), ...addTags(tags), vg],
  };
}

/** A thin LV in vg/pool. */
export function createThinCmd(vg: string, pool: string, name: string, sizeBytes: number, tags: readonly string[]): Program {
  return { program: 'lvcreate', args: ['-q', '--yes', '-T', lv(vg, pool), '-V', `${sizeBytes}b`, '-n', name, ...addTags(tags)] };
}

/**
 * A thin snapshot of vg/source. A CSI snapshot keeps LVM's default activation skip (it is never
 * used directly, and skipped LVs stay inactive at boot); a volume made from one (restore or
 * clone) is created without it (-kn) so it activates like any volume.
 */
export function createThinSnapshotCmd(vg: string, source: string, name: string, tags: readonly string[], asVolume: boolean): Program {
  return { program: 'lvcreate', args: ['-q', '--yes', '-s', ...(asVolume ? ['-k', 'n'] : []), '-n', name, ...addTags(tags), lv(vg, source)] };
}

/** A classic copy-on-write snapshot of a thick LV with room for `percent`% of the origin. */
export function createCowSnapshotCmd(vg: string, source: string, name: string, percent: number, tags: readonly string[]): Program {
  return { program: 'lvcreate', args: ['-q', '--yes', '-s', '-l', `${percent}%ORIGIN`, '-n', name, ...addTags(tags), lv(vg, source)] };
}

/** Activate (-K: also when activation skip is set). */
export function activateCmd(vg: string, name: string): Program {
  return { program: 'lvchange', args: ['-q', '-a', 'y', '-K', lv(vg, name)] };
}

export function extendCmd(vg: string, name: string, sizeBytes: number): Program {
  return { program: 'lvextend', args: ['-q', '-L', `${sizeBytes}b`, lv(vg, name)] };
}

/** Remove one LV. Callers check first that it is theirs and has no dependents. */
export function removeCmd(vg: string, name: string): Program {
  return { program: 'lvremove', args: ['-q', '-y', lv(vg, name)] };
}

export function tagCmd(vg: string, name: string, add: readonly string[], del: readonly string[] = []): Program {
  return { program: 'lvchange', args: ['-q', ...addTags(add), ...del.flatMap((t) => ['--deltag', t]), lv(vg, name)] };
}

/** saferemove: zero (BLKZEROOUT; the kernel writes zeroes where the device cannot) or discard. */
export function wipeCmd(device: string, how: 'zero' | 'discard'): Program {
  return { program: 'blkdiscard', args: [...(how === 'zero' ? ['--zeroout'] : []), '--force', device] };
}

/** Copy `bytes` from one block device to another (thick clone / restore). No sparse skipping:
 * the target is a fresh thick LV whose blocks still hold whatever was there before. */
export function copyCmd(from: string, to: string, bytes: number): Program {
  return {
    program: 'dd',
    args: [`if=${from}`, `of=${to}`, 'bs=4M', `count=${bytes}`, 'iflag=count_bytes,direct', 'oflag=direct', 'conv=fsync,nocreat', 'status=none'],
  };
}
