// Shared by the LVM lab tests: requests, pools files, and LVM's own view of a node.
import { status } from '@grpc/grpc-js';
import { NODE_ENV, type LabNode } from '../harness/index.js';
import type { NodeDriver } from '../harness/driver.js';

/** The lab's VG (service lvm): labvg with thin pool labvg/thin. */
export const VG = 'labvg';
export const MiB = 1024 * 1024;
const LVS_FIELDS = 'lv_name,lv_size,lv_tags,lv_attr,pool_lv,data_percent,lv_health_status';

export const mountCap = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
export const blockCap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

export function createReq(name: string, pool: string, bytes: number, extra: object = {}): object {
  return { name, capacity_range: { required_bytes: String(bytes) }, parameters: { pool }, volume_capabilities: [mountCap], ...extra };
}

export const onNode = (node: string) => ({ accessibility_requirements: { requisite: [{ segments: { 'topology.poolcsi.io/node': node } }] } });

export function poolsYaml(lines: string[]): string {
  return `pools:\n${lines.map((l) => `  - ${l}`).join('\n')}\n`;
}

export interface Outcome { ok: boolean; response?: any; code?: string; details?: string; ms: number }

/** A CSI call that may fail, timed, with the status as its name (RESOURCE_EXHAUSTED...). */
export async function attempt(d: NodeDriver, method: string, req: object): Promise<Outcome> {
  const started = Date.now();
  const r = await d.call(method, req);
  const ms = Date.now() - started;
  return r.ok ? { ok: true, response: r.response, ms } : { ok: false, code: status[r.code], details: r.details, ms };
}

/** A CSI call that must succeed. */
export async function must(d: NodeDriver, method: string, req: object): Promise<any> {
  const r = await d.call(method, req);
  if (!r.ok) throw new Error(`${method} failed: ${status[r.code]}: ${r.details}`);
  return r.response;
}

export interface LvInfo { name: string; size: number; tags: string; attr: string; pool: string; dataPercent: string; health: string }

/** The LVs of a VG in a node (internal LVs left out). */
export async function lvs(node: LabNode, vg = VG): Promise<LvInfo[]> {
  const r = await sh(node, ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', LVS_FIELDS, vg]);
  const rows = (JSON.parse(r.stdout) as { report: Array<{ lv: Array<Record<string, string>> }> }).report[0]?.lv ?? [];
  return rows.map((l) => ({
    name: l.lv_name!, size: Number(l.lv_size), tags: l.lv_tags!, attr: l.lv_attr!, pool: l.pool_lv!, dataPercent: l.data_percent!, health: l.lv_health_status!,
  }));
}

/** A command in the node with the lab's LVM settings; throws unless it exits 0. */
export function sh(node: LabNode, argv: string[], timeoutMs = 120_000) {
  return node.run(argv, { env: { ...NODE_ENV, LVM_SUPPRESS_FD_WARNINGS: '1' }, timeoutMs });
}
