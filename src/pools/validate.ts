// Turning a pools document into Pools, with errors a person can act on:
// each names the pool (by id when it has one) and the field.
import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { POOL_TYPES, PoolsFileSchema, type Pool, type PoolsFile, type PoolType, type VolumeMode } from './schema.js';

export class PoolsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid pools: ${problems.join('; ')}`);
    this.name = 'PoolsError';
  }
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const path = issue.path;
  let where = path.map(String).join('.');
  if (path[0] === 'pools' && typeof path[1] === 'number') {
    const pool = (raw as { pools?: Array<{ id?: unknown }> }).pools?.[path[1]];
    const id = pool && typeof pool.id === 'string' ? `"${pool.id}"` : `#${path[1]}`;
    const field = path.slice(2).map(String).join('.');
    where = `pool ${id}${field ? ` field ${field}` : ''}`;
  }
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union' && path[path.length - 1] === 'type') {
    const t = (raw as { pools?: Array<{ type?: unknown }> }).pools?.[path[1] as number]?.type;
    msg = `unknown pool type ${JSON.stringify(t)} (known: ${POOL_TYPES.join(', ')})`;
  }
  return `${where || 'document'}: ${msg}`;
}

/** What each type can serve, for the checks below. backends/ holds the full TypeTraits (a unit
 * test keeps the two equal); pools/ sits below backends/ and cannot import them. */
export const TYPE_CAN: Record<PoolType, { modes: readonly VolumeMode[]; makesFilesystem: boolean }> = {
  dir: { modes: ['filesystem'], makesFilesystem: false },
  lvm: { modes: ['filesystem', 'block'], makesFilesystem: true },
  lvmthin: { modes: ['filesystem', 'block'], makesFilesystem: true },
  rbd: { modes: ['filesystem', 'block'], makesFilesystem: true },
  iscsi: { modes: ['filesystem', 'block'], makesFilesystem: true },
  nfs: { modes: ['filesystem'], makesFilesystem: false },
  zfspool: { modes: ['filesystem', 'block'], makesFilesystem: false },
  'zfs-iscsi': { modes: ['filesystem', 'block'], makesFilesystem: true },
  'iscsi-luns': { modes: ['filesystem', 'block'], makesFilesystem: true },
};

/** Directories a dir pool must not be: the system's own, and the kubelet's. */
const SYSTEM_DIRS = ['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib64', '/opt', '/proc', '/root', '/run', '/sbin', '/sys', '/tmp',
  '/usr', '/var', '/var/lib', '/var/log', '/var/run', '/var/lib/kubelet', '/var/lib/kubelet/pods', '/var/lib/kubelet/plugins'];
/** Pseudo-filesystems: nothing under them is storage. */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

const normalPath = (p: string) => posix.normalize(p).replace(/(.)\/+$/, '$1');
const within = (inner: string, outer: string) => outer === '/' || inner.startsWith(`${outer}/`);

/** Whether two pools can be on the same node (no nodes list = every node). */
const shareNodes = (a: Pool, b: Pool) => !a.nodes || !b.nodes || a.nodes.some((n) => b.nodes!.includes(n));

/** Problems the schema cannot see: settings the pool's type cannot honour, and dir pools whose
 * directories are the system's or overlap each other (one pool's volumes in another's). */
function poolProblems(file: PoolsFile): string[] {
  const problems: string[] = [];
  for (const p of file.pools) {
    const can = TYPE_CAN[p.type];
    for (const m of p.volumeModes ?? []) {
      if (!can.modes.includes(m)) problems.push(`pool "${p.id}" field volumeModes: type ${p.type} cannot serve ${m} volumes (it serves ${can.modes.join(', ')})`);
    }
    if (!can.makesFilesystem) {
      for (const k of ['fsType', 'mkfsOptions'] as const) {
        if (p.defaults?.[k] !== undefined) problems.push(`pool "${p.id}" field defaults.${k}: type ${p.type} makes no filesystem (volumes are directories)`);
      }
    }
  }
  // Overlaps are checked among the dir pools whose directories are acceptable on their own
  // (`path: /` would otherwise also be reported as containing every other pool).
  const dirs = file.pools.filter((p): p is Extract<Pool, { type: 'dir' }> => p.type === 'dir').filter((p) => {
    const path = normalPath(p.path);
    if (SYSTEM_DIRS.includes(path)) problems.push(`pool "${p.id}" field path: ${path} is a system directory; use a directory of its own (e.g. /var/lib/poolcsi/${p.id})`);
    else if (PSEUDO_ROOTS.some((r) => within(path, r))) problems.push(`pool "${p.id}" field path: ${path} is on a kernel pseudo-filesystem, not storage`);
    else return true;
    return false;
  });
  dirs.forEach((a, i) => {
    for (const b of dirs.slice(i + 1)) {
      if (!shareNodes(a, b)) continue;
      const pa = normalPath(a.path);
      const pb = normalPath(b.path);
      if (pa === pb) problems.push(`pool "${b.id}" field path: ${pb} is also the path of pool "${a.id}"; each dir pool needs its own directory`);
      else if (within(pb, pa)) problems.push(`pool "${b.id}" field path: ${pb} lies inside pool "${a.id}" (${pa})`);
      else if (within(pa, pb)) problems.push(`pool "${a.id}" field path: ${pa} lies inside pool "${b.id}" (${pb})`);
    }
  });
  return problems;
}

/** Validates an already-parsed document: the one check for the CLI, SIGHUP and ConfigMap updates. */
export function validatePools(raw: unknown): PoolsFile {
  const r = PoolsFileSchema.safeParse(raw);
  if (!r.success) throw new PoolsError(r.error.issues.map((i) => describeIssue(raw, i)));
  const problems = poolProblems(r.data);
  if (problems.length) throw new PoolsError(problems);
  return r.data;
}

/** Parses YAML (or JSON) text and validates it. */
export function parsePools(text: string): PoolsFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new PoolsError([`not valid YAML: ${(e as Error).message}`]);
  }
  if (raw === null || typeof raw !== 'object') throw new PoolsError(['document: expected a mapping with a "pools" list']);
  return validatePools(raw);
}
