// Size enforcement for dir volumes with project quotas (xfs prjquota, ext4 prjquota).
// Where the filesystem has no project quotas, sizes are recorded but not enforced, and
// GetCapacity notes and `poolcsi pools status` say so.
import { createHash } from 'node:crypto';
import type { Runner } from '../../exec/index.js';
import { mountContaining, readMounts } from '../../sys/mountinfo.js';

export type QuotaKind = 'xfs' | 'ext4' | 'none';

export interface QuotaSupport { kind: QuotaKind; mountPoint: string; reason: string }

/** Detects project-quota support for the filesystem holding `path`. */
export async function detectQuota(path: string): Promise<QuotaSupport> {
  const m = mountContaining(await readMounts(), path);
  if (!m) return { kind: 'none', mountPoint: '/', reason: `no mount found for ${path}` };
  const opts = new Set([...m.options, ...m.superOptions]);
  const prj = opts.has('prjquota') || opts.has('pquota');
  if (m.fsType === 'xfs' && prj) return { kind: 'xfs', mountPoint: m.mountPoint, reason: 'xfs project quota' };
  if (m.fsType === 'ext4' && prj) return { kind: 'ext4', mountPoint: m.mountPoint, reason: 'ext4 project quota' };
  return {
    kind: 'none',
    mountPoint: m.mountPoint,
    reason: `${m.fsType} at ${m.mountPoint} is not mounted with project quotas (prjquota): volume sizes are recorded, not enforced`,
  };
}

/** A stable project id for a volume, in a range kept away from hand-made ids. */
export function projectId(poolId: string, name: string): number {
  const h = createHash('sha256').update(`${poolId}:${name}`).digest().readUInt32BE(0);
  return 100_000 + (h % 2_000_000_000);
}

export interface QuotaCommand { program: string; args: string[] }

/** The commands that put `dir` under project `id` limited to `bytes` (0 lifts the limit). */
export function quotaCommands(q: QuotaSupport, dir: string, id: number, bytes: number): QuotaCommand[] {
  if (q.kind === 'xfs') {
    if (/\s/.test(dir)) throw new Error(`xfs_quota cannot address a path with whitespace: ${dir}`);
    return [
      { program: 'xfs_quota', args: ['-x', '-c', `project -s -p ${dir} ${id}`, q.mountPoint] },
      { program: 'xfs_quota', args: ['-x', '-c', `limit -p bhard=${bytes} ${id}`, q.mountPoint] },
    ];
  }
  if (q.kind === 'ext4') {
    const kib = Math.ceil(bytes / 1024);
    return [
      { program: 'chattr', args: ['-p', String(id), '+P', dir] },
      { program: 'setquota', args: ['-P', String(id), '0', String(kib), '0', '0', q.mountPoint] },
    ];
  }
  return [];
}

export async function applyQuota(runner: Runner, q: QuotaSupport, dir: string, id: number, bytes: number): Promise<void> {
  for (const c of quotaCommands(q, dir, id, bytes)) await runner.run(c.program, c.args, { timeoutMs: 30_000 });
}
