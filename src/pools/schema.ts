// The pool schema: the single source of the TypeScript types, the validation errors,
// the Helm values.schema.json part (see jsonSchema()) and docs/pools.md.
import { z } from 'zod';
import { SshTargetSchema } from './ssh.js';
import { checkExportPath, checkOption, checkServer, checkSubdirTemplate } from './nfs-grammar.js';

export const POOL_ID = /^[a-z][a-z0-9-]{0,30}$/;
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export const VolumeModeSchema = z.enum(['filesystem', 'block']);
export type VolumeMode = z.infer<typeof VolumeModeSchema>;

/** Per-volume parameters a pool sets once and a StorageClass may override. */
export const DefaultsSchema = z.strictObject({
  fsType: z.enum(['ext4', 'xfs', 'btrfs']).optional().describe('filesystem made on block-backed volumes'),
  mkfsOptions: z.string().max(256).optional().describe('extra mkfs arguments, split on spaces'),
  mountOptions: z.array(z.string().regex(/^[A-Za-z0-9_.,=:+-]+$/, 'a mount option may hold letters, digits and _.,=:+- only')).optional(),
}).catchall(z.string()).describe('per-volume defaults; type-specific keys are allowed and checked by the pool type');

const common = {
  id: z.string().regex(POOL_ID, 'a pool id is 1-31 characters: a lowercase letter, then lowercase letters, digits or "-"')
    .describe('immutable pool id, part of every volume id'),
  nodes: z.array(z.string().regex(NODE_NAME, 'not a valid Kubernetes node name')).min(1).optional()
    .describe('nodes where the pool exists; omitted = every node'),
  disable: z.boolean().default(false).describe('existing volumes keep working, no new ones are created'),
  volumeModes: z.array(VolumeModeSchema).min(1).optional().describe('volume modes the pool serves; default: all its type can'),
  shared: z.boolean().optional().describe('narrow a shared type to node-local use (false); cannot widen a local type'),
  defaults: DefaultsSchema.optional(),
};

const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path').refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

export const DirPoolSchema = z.strictObject({
  ...common,
  type: z.literal('dir'),
  path: absPath.describe('directory on the node that holds the volumes'),
  quota: z.enum(['auto', 'off']).default('auto').describe('enforce sizes with project quotas where the filesystem supports them'),
}).describe('node-local directory; a volume is a subdirectory (filesystem volumes only)');

// LVM names (lvm(8) "VALID NAMES"): letters, digits and "_.+-", not starting with "-".
const LVM_NAME = z.string().regex(/^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,126}$/, 'an LVM name holds letters, digits and "_.+-" and does not start with "-"')
  .refine((n) => n !== '.' && n !== '..', 'must not be "." or ".."');

const saferemove = z.enum(['off', 'zero', 'discard']).default('off')
  .describe('before removing an LV: zero it (blkdiscard --zeroout) or discard it (blkdiscard), so no data reaches the next volume');

export const LvmPoolSchema = z.strictObject({
  ...common,
  type: z.literal('lvm'),
  vgname: LVM_NAME.describe('volume group on each node'),
  mirror: z.number().int().min(0).max(4).optional()
    .describe('default number of extra copies (raid1); a StorageClass parameter "mirror" overrides it'),
  stripes: z.number().int().min(1).max(64).optional().describe('default number of stripes; StorageClass parameter "stripes" overrides it'),
  stripeSize: z.string().regex(/^[0-9]+[kKmM]?$/, 'a size such as 64k').optional().describe('default stripe size (e.g. 64k); StorageClass parameter "stripeSize" overrides it'),
  snapshotSize: z.number().int().min(1).max(100).default(25)
    .describe('copy-on-write space of a snapshot, in percent of its volume; a snapshot whose changes outgrow it becomes invalid'),
  saferemove,
}).describe('node-local LVM volume group; a volume is a thick LV (optionally raid1 or striped)');

export const LvmThinPoolSchema = z.strictObject({
  ...common,
  type: z.literal('lvmthin'),
  vgname: LVM_NAME.describe('volume group on each node'),
  thinpool: LVM_NAME.describe('thin pool LV in that volume group'),
  overprovision: z.number().min(0.1).max(1000).default(1)
    .describe('refuse a volume when the virtual sizes in the thin pool would exceed pool size x this'),
  dataPercentLimit: z.number().min(1).max(100).optional()
    .describe('refuse new volumes while the thin pool data usage is above this percentage'),
  saferemove: z.enum(['off', 'discard']).default('off')
    .describe('discard the LV before removing it (thin pools already zero newly provisioned blocks, so "zero" does not apply)'),
}).describe('node-local LVM thin pool; a volume is a thin LV, snapshots and clones are thin snapshots');

/** Ceph RBD image features krbd can map (journaling is librbd-only). */
export const RBD_FEATURES = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'] as const;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MON_HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;

const SECRET_REF = z.strictObject({
  name: z.string().regex(K8S_NAME),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
});

export const RbdPoolSchema = z.strictObject({
  ...common,
  type: z.literal('rbd'),
  monhost: z.array(z.string().regex(MON_HOST, 'a monitor is host, host:port or [ipv6]:port')).min(1)
    .describe('Ceph monitor addresses (host or host:port)'),
  pool: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a Ceph pool name: letters, digits and "_.-"').describe('RADOS pool holding the images'),
  dataPool: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).optional().describe('separate (e.g. erasure-coded) pool for image data'),
  imageFeatures: z.array(z.enum(RBD_FEATURES)).min(1).default([...RBD_FEATURES])
    .describe('features of new images; features the node kernel lacks are disabled on the image before it is mapped'),
  cluster: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional().describe('cluster name, recorded on images (ceph-csi clusterID)'),
  user: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('admin').describe('cephx user (without "client."), used when the secret has no userID'),
  secretRef: SECRET_REF.optional().describe('Kubernetes Secret with userID/userKey, for calls that carry no CSI secrets'),
  maxCloneDepth: z.number().int().min(1).max(14).default(4)
    .describe('clones deeper than this (restore/clone chains) are flattened in the background'),
  udev: z.enum(['auto', 'on', 'off']).default('auto').describe('whether udev runs on nodes (auto: /run/udev/control exists); off maps with noudev'),
  mapOptions: z.array(z.string().regex(/^[a-z0-9_]+(=[A-Za-z0-9_.:-]+)?$/, 'a krbd map option: name or name=value')).optional()
    .describe('extra krbd map options (e.g. ms_mode=prefer-crc)'),
  timeoutSeconds: z.number().int().min(1).max(300).default(10)
    .describe('how long to wait for the monitors before a call fails with UNAVAILABLE'),
}).refine((p) => p.imageFeatures.includes('layering'), { message: 'imageFeatures must include layering (snapshots and clones need it)', path: ['imageFeatures'] })
  .refine((p) => !p.imageFeatures.includes('object-map') || p.imageFeatures.includes('exclusive-lock'), { message: 'object-map needs exclusive-lock', path: ['imageFeatures'] })
  .refine((p) => !p.imageFeatures.includes('fast-diff') || p.imageFeatures.includes('object-map'), { message: 'fast-diff needs object-map', path: ['imageFeatures'] })
  .describe('Ceph RBD: an image per volume, layering clones, krbd on the node (shared)');

const grammar = (check: (v: string) => unknown) => (v: string, ctx: z.RefinementCtx) => {
  try { check(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
};

// An iSCSI portal: host (DNS name, IPv4, [IPv6]) with an optional port (default 3260).
const PORTAL = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:[0-9]{1,5})?$/;
// iqn.yyyy-mm.reversed-domain[:more], lowercase (RFC 3720); the volume's name is appended.
const IQN_PREFIX = /^iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[a-z0-9.-]+)?$/;

// What every pool exported by poolcsi's LIO code shares (iscsi, zfs-iscsi): where nodes reach the
// target, target names, the storage host and CHAP.
const iscsiExport = {
  portals: z.array(z.string().regex(PORTAL, 'a portal is host or host:port')).min(1).max(8)
    .refine((l) => new Set(l.map((p) => (/:[0-9]+$/.test(p) && !p.endsWith(']') ? p : `${p}:3260`).toLowerCase())).size === l.length, 'portals must differ')
    .describe('where nodes reach the storage host\'s LIO target (host or host:port, port 3260 by default); more than one: nodes log in at each and use the paths through dm-multipath (multipathd on every node)'),
  iqnPrefix: z.string().regex(IQN_PREFIX, 'an IQN such as iqn.2003-01.org.example:storage (lowercase)').max(120)
    .describe('target names are <iqnPrefix>:<pool id>.<volume name>'),
  ssh: SshTargetSchema.optional().describe('the storage host; omit with local: true when the controller runs on it'),
  local: z.literal(true).optional().describe('the controller runs on the storage host itself (no SSH)'),
  chap: z.strictObject({
    secretRef: SECRET_REF.optional().describe('Secret with node.session.auth.username/password (and _in for mutual CHAP), for publishes that carry no CSI secrets'),
  }).optional().describe('require CHAP on every LUN: the ACL gets the credentials of the ControllerPublishVolume secrets (or secretRef); nodes log in with the node-stage secret'),
};
const sshOrLocal = (p: { ssh?: unknown; local?: true }) => (p.ssh === undefined) !== (p.local === undefined);
const SSH_OR_LOCAL = { message: 'give exactly one of ssh and local: true', path: ['ssh'] };

export const IscsiPoolSchema = z.strictObject({
  ...common,
  type: z.literal('iscsi'),
  ...iscsiExport,
  backing: z.discriminatedUnion('type', [
    // The lvmthin pool's keys, as they are (same store), on the storage host.
    LvmThinPoolSchema.pick({ vgname: true, thinpool: true, overprovision: true, dataPercentLimit: true, saferemove: true })
      .extend({ type: z.literal('lvmthin'), vgname: LVM_NAME.describe('volume group on the storage host') })
      .describe('thin LVs: snapshots and clones are thin snapshots'),
    z.strictObject({
      type: z.literal('lvm'),
      vgname: LVM_NAME.describe('volume group on the storage host'),
      snapshotSize: z.number().int().min(1).max(100).default(25)
        .describe('copy-on-write space of a snapshot, in percent of its volume; a snapshot whose changes outgrow it becomes invalid'),
      saferemove,
    }).describe('thick LVs: snapshots are copy-on-write snapshots, clones full copies'),
    z.strictObject({
      type: z.literal('file'),
      // LIO's control file splits on ",": a path is printable, without spaces, "," or ":".
      path: z.string().superRefine(grammar((p) => checkExportPath(p, 'backing path')))
        .describe('directory on the storage host that holds a sparse image file per volume (XFS or btrfs for reflink)'),
      snapshots: z.enum(['reflink', 'copy']).default('reflink')
        .describe('reflink: snapshots and clones are cp --reflink=always (instant, point in time); copy: full copies, refused while the source is published (a copy of a disk in use is torn)'),
    }).describe('image files in a directory, exported by LIO fileio: snapshots and clones are reflinks or copies'),
  ]).describe('what holds the volumes on the storage host'),
}).refine(sshOrLocal, SSH_OR_LOCAL)
  .describe('iSCSI: an LV or image file per volume on a Linux LIO storage host, a target per volume, ACLs per published node (shared; RWX block)');


// An iSCSI target name as LIO and iscsiadm take it (iqn.yyyy-mm.reversed-domain[:unique]).
const IQN = /^iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[a-z0-9.:-]+)?$/;

export const IscsiLunsPoolSchema = z.strictObject({
  ...common,
  type: z.literal('iscsi-luns'),
  portals: iscsiExport.portals,
  target: z.string().regex(IQN, 'an IQN such as iqn.2003-01.org.example:san1 (lowercase)').max(223)
    .describe('the target whose existing LUNs are the pool: a volume is one whole LUN, picked from the unclaimed ones'),
  initiator: z.string().regex(IQN, 'an IQN (lowercase)').max(223).default('iqn.2026-12.io.poolcsi:controller')
    .describe("the initiator name the controller logs in with to list and wipe LUNs (the target's ACL must admit it, and every node's name)"),
  chap: z.strictObject({
    secretRef: SECRET_REF.describe('Secret with node.session.auth.username/password (and _in for mutual CHAP) for the controller\'s login'),
  }).optional().describe("the target requires CHAP: the controller logs in with the secretRef's credentials; nodes log in with the StorageClass's node-stage secret"),
  saferemove: z.enum(['zero', 'off']).default('zero')
    .describe('zero: DeleteVolume writes zeros over the whole LUN (WRITE SAME) before releasing it, so no data reaches the next volume; off: released as it is'),
  timeoutSeconds: z.number().int().min(1).max(300).default(10)
    .describe('how long the controller waits for the target before a call fails with UNAVAILABLE'),
}).describe("iSCSI LUNs that already exist on any target: a volume is a whole LUN, claimed by a Lease in the driver's namespace (shared; RWX block; no snapshots, clones or expansion)");

export const NfsPoolSchema = z.strictObject({
  ...common,
  type: z.literal('nfs'),
  server: z.string().superRefine(grammar(checkServer)).describe('NFS server: host name, IPv4 address or [IPv6] address'),
  export: z.string().superRefine(grammar((p) => checkExportPath(p, 'export'))).describe('exported directory on the server; volumes are directories under it'),
  options: z.array(z.string().superRefine(grammar(checkOption))).default([])
    .describe('mount options for every volume of the pool (vers=3|4.1|4.2, hard, nconnect=N, nolock, ...); StorageClass mountOptions add to them'),
  subdir: z.string().superRefine((t, ctx) => { const m = checkSubdirTemplate(t); if (m) ctx.addIssue({ code: 'custom', message: m }); }).optional()
    .describe('volume directory under the export, a template of ${pv.name}, ${pvc.name}, ${pvc.namespace}, ${volume.name} (default ${pv.name})'),
  onDelete: z.enum(['delete', 'retain', 'archive']).default('delete')
    .describe('what DeleteVolume does with the directory: remove it, leave it, or rename it to .poolcsi-archive/<name>-<date>'),
  timeoutSeconds: z.number().int().min(1).max(300).default(10)
    .describe('how long a call waits for the server before it fails with UNAVAILABLE'),
  serverAgent: z.strictObject({
    ssh: SshTargetSchema.describe('the NFS server, reached over SSH for what only the server can do'),
    path: z.string().superRefine(grammar((p) => checkExportPath(p, 'path'))).optional()
      .describe("the export's directory on the server when it differs from `export` (an NFSv4 pseudo-root)"),
    quota: z.enum(['xfs-project', 'none']).default('none')
      .describe('xfs-project: each volume gets an XFS project quota of its size (the export must be XFS mounted with prjquota)'),
    snapshots: z.enum(['reflink', 'copy', 'none']).default('reflink')
      .describe('reflink: snapshots and clones are cp --reflink=always on the server; copy: a streamed copy through the mount; none: refused'),
  }).optional().describe('what runs on the NFS server itself over SSH: size enforcement and server-side snapshots'),
}).describe('NFS export; a volume is a directory on it, mounted by every node that uses it (filesystem volumes, RWX). Sizes are enforced only with serverAgent.quota');

// ZFS dataset names as poolcsi accepts them: components of letters, digits and "_.:-" joined
// by "/" (zfs(8) also allows spaces; poolcsi does not), starting with a letter.
const ZFS_DATASET = z.string().max(200).regex(/^[A-Za-z][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/, 'a dataset such as tank/k8s: components of letters, digits and "_.:-" joined by "/"');

export const ZfsPoolSchema = z.strictObject({
  ...common,
  type: z.literal('zfspool'),
  pool: ZFS_DATASET.describe('parent dataset on each node (e.g. tank/k8s); volumes are its children'),
}).describe('node-local OpenZFS: a zvol per block volume, a dataset with a refquota per filesystem volume; snapshots and clones are ZFS snapshots and clones');

export const ZfsIscsiPoolSchema = z.strictObject({
  ...common,
  type: z.literal('zfs-iscsi'),
  ...iscsiExport,
  pool: ZFS_DATASET.describe('parent dataset on the storage host (e.g. tank/k8s); every volume is a zvol under it'),
}).refine(sshOrLocal, SSH_OR_LOCAL)
  .describe('ZFS over iSCSI: a zvol per volume on a Linux storage host with OpenZFS and LIO, exported like an iscsi pool (shared; RWX block)');

// Every pool type: one entry here per type, each schema defined above.
const TYPE_SCHEMAS = [DirPoolSchema, LvmPoolSchema, LvmThinPoolSchema, RbdPoolSchema, NfsPoolSchema, IscsiPoolSchema, IscsiLunsPoolSchema, ZfsPoolSchema, ZfsIscsiPoolSchema] as const;
export const PoolSchema = z.discriminatedUnion('type', TYPE_SCHEMAS);
export const POOL_TYPES: string[] = TYPE_SCHEMAS.map((s) => s.shape.type.value);
export type Pool = z.infer<typeof PoolSchema>;
export type PoolType = Pool['type'];
export type DirPool = z.infer<typeof DirPoolSchema>;
export type LvmPool = z.infer<typeof LvmPoolSchema>;
export type LvmThinPool = z.infer<typeof LvmThinPoolSchema>;
export type RbdPool = z.infer<typeof RbdPoolSchema>;
export type IscsiPool = z.infer<typeof IscsiPoolSchema>;
export type NfsPool = z.infer<typeof NfsPoolSchema>;
export type ZfsPool = z.infer<typeof ZfsPoolSchema>;
export type ZfsIscsiPool = z.infer<typeof ZfsIscsiPoolSchema>;
export type IscsiLunsPool = z.infer<typeof IscsiLunsPoolSchema>;
/** A pool whose volumes poolcsi exports through LIO. */
export type IscsiExportPool = IscsiPool | ZfsIscsiPool;

export const PoolsFileSchema = z.strictObject({
  pools: z.array(PoolSchema),
}).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.pools.forEach((p, i) => {
    if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['pools', i, 'id'], message: `duplicate pool id "${p.id}"` });
    seen.add(p.id);
  });
});
export type PoolsFile = z.infer<typeof PoolsFileSchema>;

/** JSON Schema of the pools list, for Helm's values.schema.json. */
export function jsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PoolsFileSchema.shape.pools, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
