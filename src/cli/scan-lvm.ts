// `poolcsi scan lvm`: what LVM has on this node (volume groups and thin pools with their sizes),
// to write lvm / lvmthin pool definitions from.
import { allLvsCmd, vgsCmd } from '../backends/lvm/commands.js';
import { isThinPool, parseLvs, parseVgs } from '../backends/lvm/report.js';
import { local, type Runner } from '../exec/index.js';
import { humanBytes, table } from './format.js';

export const SCAN_LVM_HELP = `Usage: poolcsi scan lvm [--json]

Lists this node's LVM volume groups and thin pools with their sizes, and the virtual size
already handed out from each thin pool, for writing "lvm" and "lvmthin" pool definitions.
Runs vgs and lvs (root; LVM_SYSTEM_DIR is honoured).
`;

export interface LvmScan {
  vgs: Array<{ name: string; sizeBytes: number; freeBytes: number; pvCount: number; lvCount: number }>;
  thinPools: Array<{ vg: string; name: string; sizeBytes: number; dataPercent: number; metadataPercent: number; virtualBytes: number; volumes: number }>;
}

const ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };

export async function scanLvm(runner: Runner = local): Promise<LvmScan> {
  const vgs = parseVgs((await runner.run(vgsCmd().program, vgsCmd().args, { env: ENV })).stdout);
  const lvs = parseLvs((await runner.run(allLvsCmd().program, allLvsCmd().args, { env: ENV })).stdout);
  const thinPools = lvs.filter(isThinPool).map((p) => {
    const members = lvs.filter((l) => l.vg === p.vg && l.pool === p.name);
    return {
      vg: p.vg, name: p.name, sizeBytes: p.sizeBytes, dataPercent: p.dataPercent ?? 0, metadataPercent: p.metadataPercent ?? 0,
      virtualBytes: members.reduce((s, l) => s + l.sizeBytes, 0), volumes: members.length,
    };
  });
  return { vgs: vgs.map(({ name, sizeBytes, freeBytes, pvCount, lvCount }) => ({ name, sizeBytes, freeBytes, pvCount, lvCount })), thinPools };
}

export function formatScan(s: LvmScan): string {
  let out = table(['VG', 'SIZE', 'FREE', 'PVS', 'LVS'], s.vgs.map((v) => [v.name, humanBytes(v.sizeBytes), humanBytes(v.freeBytes), String(v.pvCount), String(v.lvCount)]));
  out += '\n';
  out += s.thinPools.length
    ? table(['THIN POOL', 'SIZE', 'DATA%', 'META%', 'VIRTUAL', 'THIN LVS'], s.thinPools.map((p) => [
      `${p.vg}/${p.name}`, humanBytes(p.sizeBytes), p.dataPercent.toFixed(2), p.metadataPercent.toFixed(2), humanBytes(p.virtualBytes), String(p.volumes),
    ]))
    : 'no thin pools\n';
  return out;
}

export async function scanLvmCommand(rest: string[]): Promise<number> {
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(SCAN_LVM_HELP); return 0; }
  const json = rest.includes('--json');
  if (rest.some((a) => a !== '--json')) { process.stderr.write(SCAN_LVM_HELP); return 2; }
  const s = await scanLvm();
  process.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : formatScan(s));
  return 0;
}
