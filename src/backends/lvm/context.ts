// How a node reaches an lvm / lvmthin volume: transport `lvm` (activate, find the device).
import type { LvmPool, LvmThinPool } from '../../pools/schema.js';
import type { NodeContext } from '../types.js';
import { volumeLvName } from './names.js';

export function lvmNodeContext(pool: LvmPool | LvmThinPool, name: string): NodeContext {
  return {
    transport: 'lvm',
    descriptor: { vg: pool.vgname, lv: volumeLvName(name), ...(pool.type === 'lvmthin' ? { thinpool: pool.thinpool } : {}) },
  };
}
