// `poolcsi pools status`: every pool with its state, capacity (from the same backends and the
// same selection GetCapacity adds up), volume count, the store's notes and identity keys.
import { parseArgs } from 'node:util';
import { isLocal } from '../backends/index.js';
import { capacityBackends } from '../csi/controller.js';
import { identityKeys } from '../pools/identity.js';
import type { PoolEntry } from '../pools/registry.js';
import { humanBytes, printableJson, table } from './format.js';
import { DRIVER_HELP, DRIVER_OPTS, driverFlags, withDriver, type LocalDriver } from './local.js';

export const POOLS_STATUS_HELP = `Usage: poolcsi pools status [--pools-file FILE | --pools-configmap NS/NAME] [--node-id NAME]
                           [--agents SPEC --agent-tls-dir DIR] [--secrets-dir DIR] [--json]

Shows every pool: type, nodes, state (active, disabled, retired), total, used and available
bytes (what GetCapacity adds up, asked of the same backends), volume count, the store's notes
(thin pool data and metadata use, raid copies, a missing volume group, quota state) or why it
could not be read, and the pool's identity keys. Node-local pools: this node's, or with
--agents every node's through its agent (--json then also gives each node's numbers).

${DRIVER_HELP}`;

export interface NodeStatus {
  node: string;
  totalBytes?: number;
  usedBytes?: number;
  availableBytes?: number;
  volumes?: number;
  /** Why this node's agent could not be read (the node then counts as no capacity, as in GetCapacity). */
  error?: string;
}

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
  /** Node-local pools: each node asked. */
  perNode?: NodeStatus[];
}

export async function poolStatus(driver: LocalDriver, entry: PoolEntry): Promise<PoolStatus> {
  const { pool, retired } = entry;
  const nodeLocal = isLocal(pool);
  const out: PoolStatus = {
    id: pool.id, type: pool.type,
    nodes: pool.nodes ?? (nodeLocal && !driver.viaAgents ? [driver.ctx.nodeId] : []),
    state: retired ? 'retired' : pool.disable ? 'disabled' : 'active',
    local: nodeLocal, reachable: false, notes: [], identity: identityKeys(pool),
  };
  // The backends GetCapacity asks: the shared pool's own, or one per node with an agent.
  const targets = capacityBackends(driver.ctx, pool);
  if (!targets.length) {
    out.notes.push(driver.viaAgents
      ? `no node of this node-local pool has an agent in --agents (pool nodes: ${(pool.nodes ?? ['any']).join(', ')})`
      : `node-local pool not on this node (${driver.ctx.nodeId}); run this on one of: ${(pool.nodes ?? []).join(', ')}, or with --agents`);
    return out;
  }
  let total = 0; let avail = 0; let max = 0; let count = 0; let answered = 0;
  const perNode: NodeStatus[] = [];
  for (const { backend, node } of targets) {
    try {
      const [c, vols] = await Promise.all([backend.capacity(), backend.listVolumes()]);
      total += c.totalBytes; avail += c.availableBytes; max = Math.max(max, c.maxVolumeBytes ?? c.availableBytes);
      count += vols.length;
      answered++;
      const tag = node && driver.viaAgents ? `${node}: ` : '';
      out.notes.push(...(c.notes ?? []).map((n) => tag + n));
      if (node) perNode.push({ node, totalBytes: c.totalBytes, usedBytes: Math.max(0, c.totalBytes - c.availableBytes), availableBytes: c.availableBytes, volumes: vols.length });
    } catch (e) {
      // One node that does not answer leaves the others' numbers standing (GetCapacity does the same).
      if (!node) { out.notes.push(`unreachable: ${(e as Error).message}`); return out; }
      out.notes.push(`${node}: unreachable: ${(e as Error).message}`);
      perNode.push({ node, error: (e as Error).message });
    }
  }
  if (nodeLocal && driver.viaAgents) out.perNode = perNode;
  if (!answered) return out;
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
  const { values } = parseArgs({ args, options: DRIVER_OPTS, strict: true });
  if (values.help) { process.stdout.write(POOLS_STATUS_HELP); return 0; }
  const list = await withDriver(driverFlags(values), POOLS_STATUS_HELP,
    (driver) => Promise.all(driver.ctx.registry.all().map((e) => poolStatus(driver, e))));
  process.stdout.write(values.json ? `${printableJson({ pools: list })}\n` : formatPoolStatus(list));
  return 0;
}
