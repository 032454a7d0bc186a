// `poolcsi scan zfs`: what ZFS has on this node (pools, and filesystem datasets with their
// space), to write zfspool definitions from.
import { allFilesystemsCmd, zpoolListCmd } from '../backends/zfspool/commands.js';
import { parseSpace, parseZpools } from '../backends/zfspool/report.js';
import { local, type Runner } from '../exec/index.js';
import { humanBytes, table } from './format.js';

export const SCAN_ZFS_HELP = `Usage: poolcsi scan zfs [--json]

Lists this node's ZFS pools (size, free, health) and filesystem datasets with their used and
available space, for writing "zfspool" pool definitions (pool: <dataset>).
Runs zpool list and zfs list (root).
`;

export interface ZfsScan {
  pools: Array<{ name: string; sizeBytes: number; freeBytes: number; health: string }>;
  datasets: Array<{ name: string; usedBytes: number; availableBytes: number }>;
}

export async function scanZfs(runner: Runner = local): Promise<ZfsScan> {
  const pools = parseZpools((await runner.run(zpoolListCmd().program, zpoolListCmd().args)).stdout);
  const datasets = parseSpace((await runner.run(allFilesystemsCmd().program, allFilesystemsCmd().args)).stdout);
  return {
    pools: pools.map(({ name, sizeBytes, freeBytes, health }) => ({ name, sizeBytes, freeBytes, health })),
    // The driver's own objects (deleted volumes waiting for their clones) are not places for pools.
    datasets: datasets.filter((d) => !/\/trash:/.test(d.name)),
  };
}

export function formatZfsScan(s: ZfsScan): string {
  if (!s.pools.length) return 'no ZFS pools\n';
  return `${table(['POOL', 'SIZE', 'FREE', 'HEALTH'], s.pools.map((p) => [p.name, humanBytes(p.sizeBytes), humanBytes(p.freeBytes), p.health]))}\n`
    + table(['DATASET', 'USED', 'AVAILABLE'], s.datasets.map((d) => [d.name, humanBytes(d.usedBytes), humanBytes(d.availableBytes)]));
}

export async function scanZfsCommand(rest: string[]): Promise<number> {
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(SCAN_ZFS_HELP); return 0; }
  const json = rest.includes('--json');
  if (rest.some((a) => a !== '--json')) { process.stderr.write(SCAN_ZFS_HELP); return 2; }
  const s = await scanZfs();
  process.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : formatZfsScan(s));
  return 0;
}
