// The pool types poolcsi knows, and how to build a backend for a pool.
// Adding a type: its schema in pools/schema.ts, its folder here, one line in TYPES.
import type { Runner } from '../exec/index.js';
import type { Pool, PoolType } from '../pools/schema.js';
import { DirBackend, dirTraits } from './dir/backend.js';
import { LvmThickBackend, lvmThickTraits } from './lvm/thick.js';
import { LvmThinBackend, lvmThinTraits } from './lvm/thin.js';
import { NfsBackend, nfsTraits } from './nfs/backend.js';
import { RbdBackend, rbdTraits } from './rbd/backend.js';
import { iscsiNodeContext } from './iscsi/context.js';
import { IscsiBackend, iscsiTraits, zfsIscsiTraits } from './iscsi/store.js';
import { storageHostRunner } from './iscsi/host.js';
import { IscsiLunsBackend, iscsiLunsTraits } from './iscsiluns/backend.js';
import { iscsiLunsNodeContext } from './iscsiluns/context.js';
import { dirNodeContext } from './dir/context.js';
import { lvmNodeContext } from './lvm/context.js';
import { nfsNodeContext } from './nfs/context.js';
import { rbdNodeContext } from './rbd/context.js';
import { zfsNodeContext } from './zfspool/context.js';
import { ZfsPoolBackend, zfsPoolTraits } from './zfspool/backend.js';
import type { Backend, NodeContext, TypeTraits, VolumeLocation } from './types.js';

interface TypeEntry {
  traits: TypeTraits;
  create(pool: Pool, runner: Runner, nodeId: string): Backend;
  /** How a node reaches a volume (pure: the pool definition and the volume's name and location decide it). */
  nodeContext(pool: Pool, v: VolumeLocation): NodeContext;
}

// Each entry narrows the pool by its type tag; the schema guarantees the shape.
const TYPES: { [T in PoolType]: TypeEntry } = {
  dir: {
    traits: dirTraits,
    create: (p, r, n) => new DirBackend(p as Extract<Pool, { type: 'dir' }>, r, n),
    nodeContext: (p, v) => dirNodeContext(p as Extract<Pool, { type: 'dir' }>, v.name),
  },
  lvm: {
    traits: lvmThickTraits,
    create: (p, r, n) => new LvmThickBackend(p as Extract<Pool, { type: 'lvm' }>, r, n),
    nodeContext: (p, v) => lvmNodeContext(p as Extract<Pool, { type: 'lvm' }>, v.name),
  },
  lvmthin: {
    traits: lvmThinTraits,
    create: (p, r, n) => new LvmThinBackend(p as Extract<Pool, { type: 'lvmthin' }>, r, n),
    nodeContext: (p, v) => lvmNodeContext(p as Extract<Pool, { type: 'lvmthin' }>, v.name),
  },
  rbd: {
    traits: rbdTraits,
    create: (p, r, n) => new RbdBackend(p as Extract<Pool, { type: 'rbd' }>, r, n),
    nodeContext: (p, v) => rbdNodeContext(p as Extract<Pool, { type: 'rbd' }>, v.name),
  },
  nfs: {
    traits: nfsTraits,
    create: (p, r, n) => new NfsBackend(p as Extract<Pool, { type: 'nfs' }>, r, n),
    // The directory depends on the subdir template at create time: it comes from the record.
    nodeContext: (p, v) => nfsNodeContext(p as Extract<Pool, { type: 'nfs' }>, v),
  },
  iscsi: {
    traits: iscsiTraits,
    create: (p, r) => {
      const pool = p as Extract<Pool, { type: 'iscsi' }>;
      return new IscsiBackend(pool, storageHostRunner(pool, r));
    },
    nodeContext: (p, v) => iscsiNodeContext(p as Extract<Pool, { type: 'iscsi' }>, v.name),
  },
  'zfs-iscsi': {
    traits: zfsIscsiTraits,
    create: (p, r) => {
      const pool = p as Extract<Pool, { type: 'zfs-iscsi' }>;
      return new IscsiBackend(pool, storageHostRunner(pool, r));
    },
    nodeContext: (p, v) => iscsiNodeContext(p as Extract<Pool, { type: 'zfs-iscsi' }>, v.name),
  },
  'iscsi-luns': {
    traits: iscsiLunsTraits,
    create: (p) => new IscsiLunsBackend(p as Extract<Pool, { type: 'iscsi-luns' }>),
    // The LUN and its SCSI id come from the volume's claim (its record's location).
    nodeContext: (p, v) => iscsiLunsNodeContext(p as Extract<Pool, { type: 'iscsi-luns' }>, v),
  },
  zfspool: {
    traits: zfsPoolTraits,
    create: (p, r, n) => new ZfsPoolBackend(p as Extract<Pool, { type: 'zfspool' }>, r, n),
    nodeContext: (p, v) => zfsNodeContext(p as Extract<Pool, { type: 'zfspool' }>, v.name),
  },
};

export function traitsOf(type: PoolType): TypeTraits { return TYPES[type].traits; }

/** Whether the pool's volumes live on one node (and its work is done by that node's agent). */
export function isLocal(pool: Pool): boolean { return TYPES[pool.type].traits.local || pool.shared === false; }

/** Volume modes the pool serves: what its type can, narrowed by `volumeModes`. */
export function modesOf(pool: Pool): string[] {
  const can = TYPES[pool.type].traits.modes;
  return pool.volumeModes ? can.filter((m) => pool.volumeModes!.includes(m)) : [...can];
}

export function createBackend(pool: Pool, runner: Runner, nodeId: string): Backend {
  return TYPES[pool.type].create(pool, runner, nodeId);
}

/** The transport descriptor of a volume of `pool` (what Store.nodeContext answers). */
export function nodeContextOf(pool: Pool, v: VolumeLocation): NodeContext {
  return TYPES[pool.type].nodeContext(pool, v);
}
