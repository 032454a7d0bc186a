// `poolcsi volumes list --pool ID`: the volumes (and snapshots) a pool holds on this node, read
// from the backend itself (for lvm pools: the LV tags), with size, owner PVC and origin.
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createBackend } from '../backends/index.js';
import type { SnapshotRecord, VolumeRecord } from '../backends/types.js';
import { local } from '../exec/index.js';
import { parsePools } from '../pools/validate.js';
import { humanBytes, printableJson, table } from './format.js';

export const VOLUMES_LIST_HELP = `Usage: poolcsi volumes list --pool ID [--pools-file FILE] [--node-id NAME] [--json]

Lists the volumes and snapshots of one pool on this node, from the pool's own state (LV tags,
state files): name, size, mode, owner PVC (namespace/name) and origin (the snapshot or volume it
was made from).

  --pools-file   the pools.yaml (default: $POOLCSI_POOLS_FILE, then /etc/poolcsi/pools.yaml)
  --node-id      this node's name (default: $NODE_ID, then the host name)
  --json         machine-readable output
`;

export function origin(v: VolumeRecord): string {
  if (v.source?.kind === 'snapshot') return `snapshot ${v.source.volume}@${v.source.snapshot}`;
  if (v.source?.kind === 'volume') return `clone of ${v.source.volume}`;
  return '-';
}

export function formatVolumes(vols: VolumeRecord[], snaps: SnapshotRecord[]): string {
  const v = [...vols].sort((a, b) => a.name.localeCompare(b.name));
  let out = table(['VOLUME', 'SIZE', 'MODE', 'PVC', 'ORIGIN', 'CREATED'], v.map((r) => [
    r.name, humanBytes(r.sizeBytes), r.mode, r.pvc ? `${r.pvc.namespace}/${r.pvc.name}` : '-', origin(r), r.createdAt ?? '-',
  ]));
  if (snaps.length) {
    out += '\n' + table(['SNAPSHOT', 'SIZE', 'READY', 'CREATED'], [...snaps].sort((a, b) => `${a.volume}@${a.name}`.localeCompare(`${b.volume}@${b.name}`))
      .map((s) => [`${s.volume}@${s.name}`, humanBytes(s.sizeBytes), s.ready ? 'yes' : 'no', s.createdAt]));
  }
  return out;
}

export async function volumesCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'list' || rest.includes('--help') || rest.includes('-h')) {
    process[sub === 'list' ? 'stdout' : 'stderr'].write(VOLUMES_LIST_HELP);
    return sub === 'list' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { pool: { type: 'string' }, 'pools-file': { type: 'string' }, 'node-id': { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  if (!values.pool) { process.stderr.write(`poolcsi: --pool is required\n\n${VOLUMES_LIST_HELP}`); return 2; }
  const file = values['pools-file'] ?? process.env.POOLCSI_POOLS_FILE ?? '/etc/poolcsi/pools.yaml';
  const pools = parsePools(await readFile(file, 'utf8')).pools;
  const pool = pools.find((p) => p.id === values.pool);
  if (!pool) { process.stderr.write(`poolcsi: no pool "${values.pool}" in ${file} (pools: ${pools.map((p) => p.id).join(', ') || 'none'})\n`); return 1; }
  const backend = createBackend(pool, local, values['node-id'] ?? process.env.NODE_ID ?? hostname());
  const [vols, snaps] = await Promise.all([backend.listVolumes(), backend.traits.snapshots ? backend.listSnapshots() : Promise.resolve([])]);
  process.stdout.write(values.json ? `${printableJson({ volumes: vols, snapshots: snaps })}\n` : formatVolumes(vols, snaps));
  return 0;
}
