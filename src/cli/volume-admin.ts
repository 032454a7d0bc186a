// `poolcsi volumes alloc|free|path|info`: a volume by hand, through the driver's own CSI
// handlers (CreateVolume, DeleteVolume) and stores, so names, parameters and state are exactly
// what the driver makes and reads.
import { parseArgs } from 'node:util';
import { traitsOf } from '../backends/index.js';
import type { SnapshotRecord, VolumeRecord } from '../backends/types.js';
import { findVolume, lookupVolumeRef, TOPOLOGY_KEY } from '../csi/context.js';
import { status } from '@grpc/grpc-js';
import { toStatus } from '../csi/errors.js';
import { DRIVER_NAME } from '../csi/identity.js';
import { humanBytes, printable, printableJson, table } from './format.js';
import { call, CliFailure, CliUsage, DRIVER_HELP, DRIVER_OPTS, driverFlags, withDriver } from './local.js';
import { DEFAULT_KUBELET_DIR, findStages, nodeViews, stagingRoot, type NodeView } from './stages.js';
import { origin } from './volumes.js';

export { CliUsage };

const COMMON = DRIVER_HELP;
const POOL_OPTS = DRIVER_OPTS;

export const ALLOC_HELP = `Usage: poolcsi volumes alloc --pool ID --name NAME --size SIZE [--mode filesystem|block]
                             [--param KEY=VALUE]... [--node NODE] [--pv] [--json]

Creates a volume exactly as CreateVolume would for a StorageClass with parameter pool=ID and
the --param values (same name derivation, validation and state) and prints its volume id.
Repeating it with the same name and size finds the same volume. With --pv, prints a static
PersistentVolume for it (volumeAttributes as CreateVolume returns them; nodeAffinity for
node-local pools). Node-local pools: on their node, or from anywhere with --agents; --node
picks the node as the CO's topology would (needed when the pool has several).

  --size    bytes, or with a suffix K M G T (powers of 1000) or Ki Mi Gi Ti (powers of 1024)
  --mode    filesystem (default) or block
  --param   a StorageClass parameter (fsType, mkfsOptions, mountOptions, type-specific ones)
  --pv      print a PersistentVolume (the PV is named NAME, which must be a valid PV name)
  --node    the node a node-local pool's volume goes to (topology.poolcsi.io/node)
${COMMON}`;

export const FREE_HELP = `Usage: poolcsi volumes free VOLUME_ID [--force] [--kubelet-dir DIR] [--json]

Deletes a volume as DeleteVolume would. Refuses (exit 1) while the volume is published to a
node (recorded on the backend) or staged on this node (a stage stash under the kubelet
directory), unless --force. --force skips only this check: DeleteVolume still refuses a
volume the storage reports in use (an open LV, an rbd image with watchers), exit 1.

  --force        do not check the published record and this node's stages
  --kubelet-dir  where kubelet keeps its staging directories (default /var/lib/kubelet)
${COMMON}`;

export const PATH_HELP = `Usage: poolcsi volumes path VOLUME_ID [--kubelet-dir DIR] [--json]

On a node: the device or directory the volume has here and whether it is attached, staged and
published, from the stage stashes under the kubelet directory, the mount table and the
transport's read-only health check. Changes nothing and needs no pools file.

  --kubelet-dir  where kubelet keeps its staging directories (default /var/lib/kubelet)
  --json         machine-readable output
`;

export const INFO_HELP = `Usage: poolcsi volumes info VOLUME_ID [--json]

A volume's size, mode, origin, owner PVC, snapshots, clones and the nodes it is published to,
from the pool's own state.

${COMMON}`;

const SIZE = /^(\d+)(K|M|G|T|Ki|Mi|Gi|Ti)?$/;
const MULT: Record<string, number> = { K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

export function parseSize(s: string): number | undefined {
  const m = SIZE.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? MULT[m[2]]! : 1);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const PV_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface AllocResult { volume_id: string; capacity_bytes: string; volume_context: Record<string, string>; accessible_topology: Array<{ segments: Record<string, string> }> }

/** A static PV for an allocated volume. JSON strings are YAML scalars, so every value is quoted safely. */
export function pvYaml(name: string, mode: 'filesystem' | 'block', v: AllocResult): string {
  const q = (s: string) => JSON.stringify(s);
  const ctx = v.volume_context;
  const lines = [
    'apiVersion: v1', 'kind: PersistentVolume', 'metadata:', `  name: ${q(name)}`, 'spec:',
    '  capacity:', `    storage: ${q(v.capacity_bytes)}`, '  accessModes: ["ReadWriteOnce"]',
    `  volumeMode: ${mode === 'block' ? 'Block' : 'Filesystem'}`, '  persistentVolumeReclaimPolicy: Retain',
    '  storageClassName: ""', '  csi:', `    driver: ${q(DRIVER_NAME)}`, `    volumeHandle: ${q(v.volume_id)}`,
    ...(mode === 'filesystem' && ctx.fsType ? [`    fsType: ${q(ctx.fsType)}`] : []),
    '    volumeAttributes:',
    ...Object.keys(ctx).sort().map((k) => `      ${q(k)}: ${q(ctx[k]!)}`),
  ];
  const nodes = v.accessible_topology.map((t) => t.segments[TOPOLOGY_KEY]).filter((n): n is string => !!n);
  if (nodes.length) {
    lines.push('  nodeAffinity:', '    required:', '      nodeSelectorTerms:', '        - matchExpressions:',
      `            - key: ${q(TOPOLOGY_KEY)}`, '              operator: In', `              values: [${nodes.map(q).join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}

export async function allocCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...POOL_OPTS, pool: { type: 'string' }, name: { type: 'string' }, size: { type: 'string' }, mode: { type: 'string' },
      param: { type: 'string', multiple: true }, pv: { type: 'boolean' }, node: { type: 'string' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(ALLOC_HELP); return 0; }
  for (const f of ['pool', 'name', 'size'] as const) if (!values[f]) throw new CliUsage(`--${f} is required`, ALLOC_HELP);
  const size = parseSize(values.size!);
  if (size === undefined) throw new CliUsage(`--size ${JSON.stringify(values.size)} is not a size (bytes, or a number with K M G T Ki Mi Gi Ti)`, ALLOC_HELP);
  const mode = values.mode ?? 'filesystem';
  if (mode !== 'filesystem' && mode !== 'block') throw new CliUsage('--mode must be filesystem or block', ALLOC_HELP);
  const params: Record<string, string> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliUsage(`--param ${JSON.stringify(p)} is not KEY=VALUE`, ALLOC_HELP);
    const k = p.slice(0, eq);
    if (k === 'pool') throw new CliUsage('give the pool with --pool, not --param pool=', ALLOC_HELP);
    params[k] = p.slice(eq + 1);
  }
  if (values.pv && !PV_NAME.test(values.name!)) throw new CliUsage(`--pv: --name ${JSON.stringify(values.name)} is not a valid PersistentVolume name (lowercase DNS subdomain)`, ALLOC_HELP);
  const cap = mode === 'block' ? { block: {} } : { mount: {} };
  const v = await withDriver(driverFlags(values), ALLOC_HELP, async (driver) => {
    const res = await call(driver.controller, 'CreateVolume', {
      name: values.name,
      parameters: { ...params, pool: values.pool! },
      capacity_range: { required_bytes: String(size), limit_bytes: '0' },
      volume_capabilities: [{ ...cap, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
      // The node as the CO names it for WaitForFirstConsumer: the pool's node-local volume goes there.
      ...(values.node ? { accessibility_requirements: { requisite: [{ segments: { [TOPOLOGY_KEY]: values.node } }], preferred: [{ segments: { [TOPOLOGY_KEY]: values.node } }] } } : {}),
    });
    return res.volume as AllocResult;
  });
  if (values.pv) process.stdout.write(pvYaml(values.name!, mode, v));
  else if (values.json) process.stdout.write(`${printableJson(v)}\n`);
  else process.stdout.write(`${printable(v.volume_id)}\n`);
  return 0;
}

/** Why a volume may not be deleted now, or undefined. */
export function busyReason(rec: VolumeRecord | undefined, here: NodeView[]): string | undefined {
  const published = Object.keys(rec?.published ?? {});
  if (published.length) return `published to ${published.join(', ')}`;
  const staged = here.map((v) => v.staging);
  if (staged.length) return `staged on this node at ${staged.join(', ')}`;
  return undefined;
}

export async function freeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, options: { ...POOL_OPTS, force: { type: 'boolean' }, 'kubelet-dir': { type: 'string' } }, strict: true, allowPositionals: true,
  });
  if (values.help) { process.stdout.write(FREE_HELP); return 0; }
  if (positionals.length !== 1) throw new CliUsage('give exactly one VOLUME_ID', FREE_HELP);
  const id = positionals[0]!;
  try { lookupVolumeRef(id); } catch (e) { throw new CliFailure((e as Error).message); }
  const here = (await findStages(stagingRoot(values['kubelet-dir'] ?? DEFAULT_KUBELET_DIR))).filter((s) => s.stash?.volumeId === id);
  const result = await withDriver(driverFlags(values), FREE_HELP, async (driver) => {
    let rec: VolumeRecord | undefined;
    try { rec = (await findVolume(driver.ctx, id)).record; } catch (e) { if (toStatus(e).code !== status.NOT_FOUND) throw e; }
    const busy = busyReason(rec, here.map((s) => ({ volumeId: id, staging: s.staging, state: s.stash!.state, stagingMounted: false, published: [] })));
    if (busy && !values.force) throw new CliFailure(`refusing to free ${id}: it is ${busy} (unpublish and unstage it first, or use --force)`);
    try {
      await call(driver.controller, 'DeleteVolume', { volume_id: id });
    } catch (e) {
      // --force skips this command's check only: the storage's own refusal (an open LV, a
      // mapped rbd image) still stands, and says why.
      if (busy) throw new CliFailure(`${id} is ${busy} and the storage refused to delete it: ${(e as Error).message}`);
      throw e;
    }
    return { volume_id: id, deleted: rec !== undefined, ...(busy ? { forced: busy } : {}) };
  });
  process.stdout.write(values.json ? `${printableJson(result)}\n`
    : result.deleted ? `deleted ${printable(id)}${result.forced ? ` (forced: it was ${printable(result.forced)})` : ''}\n` : `${printable(id)}: no such volume (nothing left to delete)\n`);
  return 0;
}

export function formatNodeViews(id: string, views: NodeView[]): string {
  if (!views.length) return `${id}: not staged on this node\n`;
  return table(['VOLUME', 'STATE', 'KIND', 'PATH', 'STAGING', 'PUBLISHED', 'HEALTH'], views.map((v) => [
    v.volumeId, v.state, v.attached?.kind ?? '-', v.attached ? `${v.attached.path}${v.attached.readonly ? ' (ro)' : ''}` : '-',
    v.mode === 'filesystem' ? `${v.staging}${v.stagingMounted ? '' : ' (not mounted)'}` : v.staging,
    v.published.join(',') || '-', v.damaged ?? (v.condition ? `${v.condition.abnormal ? 'ABNORMAL: ' : ''}${v.condition.message}` : '-'),
  ]));
}

export async function pathCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, 'kubelet-dir': { type: 'string' } }, strict: true, allowPositionals: true,
  });
  if (values.help) { process.stdout.write(PATH_HELP); return 0; }
  if (positionals.length !== 1) throw new CliUsage('give exactly one VOLUME_ID', PATH_HELP);
  const id = positionals[0]!;
  const stages = (await findStages(stagingRoot(values['kubelet-dir'] ?? DEFAULT_KUBELET_DIR))).filter((s) => s.stash?.volumeId === id);
  const views = await nodeViews(stages);
  process.stdout.write(values.json ? `${printableJson({ volume_id: id, stages: views })}\n` : formatNodeViews(id, views));
  return views.length ? 0 : 1;
}

export interface VolumeInfo {
  volume_id: string;
  pool: string;
  node?: string;
  record: VolumeRecord;
  snapshots: SnapshotRecord[];
  clones: string[];
}

export function formatInfo(i: VolumeInfo): string {
  const r = i.record;
  const rows: string[][] = [
    ['volume', i.volume_id], ['pool', i.pool], ['node', i.node ?? r.node ?? '-'], ['size', `${humanBytes(r.sizeBytes)} (${r.sizeBytes} bytes)`],
    ['mode', r.mode], ['request name', r.requestName], ['pvc', r.pvc ? `${r.pvc.namespace}/${r.pvc.name}${r.pvc.pvName ? ` (pv ${r.pvc.pvName})` : ''}` : '-'],
    ['origin', origin(r)], ['created', r.createdAt ?? '-'],
    ['published', Object.entries(r.published ?? {}).map(([n, p]) => `${n}${p.readonly ? ' (ro)' : ''}`).join(', ') || '-'],
    ['snapshots', i.snapshots.map((s) => s.name).join(', ') || '-'], ['clones', i.clones.join(', ') || '-'],
    ['params', Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
  ];
  return table(['FIELD', 'VALUE'], rows);
}

export async function infoCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: POOL_OPTS, strict: true, allowPositionals: true });
  if (values.help) { process.stdout.write(INFO_HELP); return 0; }
  if (positionals.length !== 1) throw new CliUsage('give exactly one VOLUME_ID', INFO_HELP);
  const id = positionals[0]!;
  const info = await withDriver(driverFlags(values), INFO_HELP, async (driver): Promise<VolumeInfo> => {
    const v = await findVolume(driver.ctx, id);
    const t = traitsOf(v.pool.type);
    const [snaps, vols] = await Promise.all([t.snapshots ? v.backend.listSnapshots() : Promise.resolve([]), v.backend.listVolumes()]);
    const snapshots = snaps.filter((s) => s.volume === v.ref.name);
    const clones = vols.filter((c) => c.source?.volume === v.ref.name).map((c) => `${c.name}${c.source?.kind === 'snapshot' ? ` (from @${c.source.snapshot})` : ''}`);
    return { volume_id: id, pool: v.pool.id, ...(v.node ? { node: v.node } : {}), record: v.record, snapshots, clones };
  });
  process.stdout.write(values.json ? `${printableJson(info)}\n` : formatInfo(info));
  return 0;
}
