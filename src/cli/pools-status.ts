// `poolcsi pools status`: every pool with its state, capacity (from the same backends and the
// same selection GetCapacity adds up), volume count, the store's notes and identity keys.
import { parseArgs } from 'node:util';
import { isLocal } from '../backends/index.js';
import { capacityBackends } from '../csi/controller.js';
import { identityKeys } from '../pools/identity.js';
import type { PoolEntry } from '../pools/registry.js';
import { humanBytes, printableJson, table } from './format.js';
import { loadRegistry, localDriver, nodeIdOf, type LocalDriver } from './local.js';

export const POOLS_STATUS_HELP = `Usage: poolcsi pools status [--pools-file FILE | --pools-configmap NS/NAME] [--node-id NAME] [--json]

Shows every pool: type, nodes, state (active, disabled, retired), total, used and available
bytes (what GetCapacity adds up, asked of the same backends), volume count, the store's notes
(thin pool data and metadata use, raid copies, a missing volume group, quota state) or why it
could not be read, and the pool's identity keys. Node-local pools are read on this node only: run it on the node that has them.

  --pools-file       the pools.yaml (default: $POOLCSI_POOLS_FILE, then /etc/poolcsi/pools.yaml)
  --pools-configmap  read the pools from this ConfigMap (key pools.yaml) instead
  --node-id          this node's name (default: $NODE_ID, then the host name)
  --json             machine-readable output
`;

export interface PoolStatus {
  id: string;
  type: string;
  nodes: string[];
  state: 'active' | 'disabled' | 'retired';
  local: boolean;
  /** Whether this run could read the pool (false: the numbers are absent, notes say why). */
  reachable: boolean;
  totalBytes?: number;
  usedBytes?: number;
  availableBytes?: number;
  maxVolumeBytes?: number;
  volumes?: number;
  notes: string[];
  identity: Record<string, string>;
}

export async function poolStatus(driver: LocalDriver, entry: PoolEntry): Promise<PoolStatus> {
  const { pool, retired } = entry;
  const nodeLocal = isLocal(pool);
  const out: PoolStatus = {
    id: pool.id, type: pool.type,
    nodes: pool.nodes ?? (nodeLocal ? [driver.ctx.nodeId] : []),
    state: retired ? 'retired' : pool.disable ? 'disabled' : 'active',
    local: nodeLocal, reachable: false, notes: [], identity: identityKeys(pool),
  };
  const targets = capacityBackends(driver.ctx, pool);
  if (!targets.length) {
    out.notes.push(`node-local pool not on this node (${driver.ctx.nodeId}); run this on one of: ${(pool.nodes ?? []).join(', ')}`);
    return out;
  }
  let total = 0; let avail = 0; let max = 0; let count = 0;
  try {
    for (const { backend } of targets) {
      const [c, vols] = await Promise.all([backend.capacity(), backend.listVolumes()]);
      total += c.totalBytes; avail += c.availableBytes; max = Math.max(max, c.maxVolumeBytes ?? c.availableBytes);
      count += vols.length;
      out.notes.push(...(c.notes ?? []));
    }
  } catch (e) {
    out.notes.push(`unreachable: ${(e as Error).message}`);
    return out;
  }
  return { ...out, reachable: true, totalBytes: total, usedBytes: Math.max(0, total - avail), availableBytes: avail, maxVolumeBytes: max, volumes: count };
}

const size = (n: number | undefined) => (n === undefined ? '-' : humanBytes(n));

export function formatPoolStatus(list: PoolStatus[]): string {
  let out = table(['POOL', 'TYPE', 'STATE', 'NODES', 'TOTAL', 'USED', 'AVAILABLE', 'VOLUMES', 'IDENTITY'], list.map((p) => [
    p.id, p.type, p.state, p.nodes.join(',') || '(all)', size(p.totalBytes), size(p.usedBytes), size(p.availableBytes),
    p.volumes === undefined ? '-' : String(p.volumes), Object.entries(p.identity).map(([k, v]) => `${k}=${v}`).join(' '),
  ]));
  const notes = list.flatMap((p) => p.notes.map((n) => [p.id, n]));
  if (notes.length) out += '\n' + table(['POOL', 'NOTE'], notes);
  return out;
}

export async function poolsStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'pools-file': { type: 'string' }, 'pools-configmap': { type: 'string' }, 'node-id': { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(POOLS_STATUS_HELP); return 0; }
  const registry = await loadRegistry({ poolsFile: values['pools-file'], poolsConfigMap: values['pools-configmap'] });
  const driver = localDriver(registry, nodeIdOf(values['node-id']));
  const list = await Promise.all(registry.all().map((e) => poolStatus(driver, e)));
  process.stdout.write(values.json ? `${printableJson({ pools: list })}\n` : formatPoolStatus(list));
  return 0;
}
