// `poolcsi volumes list --pool ID`: the volumes (and snapshots) a pool holds, read from the
// backends ListVolumes reads (for lvm pools: the LV tags), with size, owner PVC and origin.
import { parseArgs } from 'node:util';
import type { SnapshotRecord, VolumeRecord } from '../backends/types.js';
import { humanBytes, printableJson, table } from './format.js';
import { CliFailure, DRIVER_HELP, DRIVER_OPTS, driverFlags, withDriver } from './local.js';
import { allocCommand, freeCommand, infoCommand, pathCommand } from './volume-admin.js';

const VOLUMES_HELP = `Usage: poolcsi volumes list|alloc|free|path|info ... ("poolcsi volumes <sub> --help" for each)\n`;

export const VOLUMES_LIST_HELP = `Usage: poolcsi volumes list --pool ID [--pools-file FILE] [--node-id NAME] [--agents S --agent-tls-dir D] [--json]

Lists the volumes and snapshots of one pool, from the pool's own state (LV tags, state files,
image metadata) as ListVolumes reads it: name, size, mode, owner PVC (namespace/name) and
origin (the snapshot or volume it was made from). Node-local pools: this node's, or every
node's through its agent with --agents.

${DRIVER_HELP}`;

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
  switch (sub) {
    case 'alloc': return allocCommand(rest);
    case 'free': return freeCommand(rest);
    case 'path': return pathCommand(rest);
    case 'info': return infoCommand(rest);
  }
  if (sub !== 'list' || rest.includes('--help') || rest.includes('-h')) {
    process[sub === 'list' ? 'stdout' : 'stderr'].write(sub === 'list' ? VOLUMES_LIST_HELP : `${VOLUMES_HELP}\n${VOLUMES_LIST_HELP}`);
    return sub === 'list' ? 0 : 2;
  }
  const { values } = parseArgs({ args: rest, options: { ...DRIVER_OPTS, pool: { type: 'string' } }, strict: true });
  if (!values.pool) { process.stderr.write(`poolcsi: --pool is required\n\n${VOLUMES_LIST_HELP}`); return 2; }
  const id = values.pool;
  // The pool's backends as ListVolumes reaches them: in process, or each node's agent with --agents.
  const { vols, snaps } = await withDriver(driverFlags(values), VOLUMES_LIST_HELP, async (d) => {
    const entry = d.ctx.registry.get(id);
    if (!entry) throw new CliFailure(`no pool "${id}" (pools: ${d.ctx.registry.all().map((e) => e.pool.id).join(', ') || 'none'})`);
    const got = await d.ctx.router.gather(entry.pool, (b) => Promise.all([b.listVolumes(), b.traits.snapshots ? b.listSnapshots() : Promise.resolve([])]));
    if (!got.length) throw new CliFailure(`pool "${id}" has no node reachable from here (node-local: run this on one of its nodes, or with --agents)`);
    return { vols: got.flatMap((g) => g.value[0]), snaps: got.flatMap((g) => g.value[1]) };
  });
  process.stdout.write(values.json ? `${printableJson({ volumes: vols, snapshots: snaps })}\n` : formatVolumes(vols, snaps));
  return 0;
}
