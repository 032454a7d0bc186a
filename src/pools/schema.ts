// The pool schema: the single source of the TypeScript types, the validation errors,
// the Helm values.schema.json part (see jsonSchema()) and docs/pools.md.
import { z } from 'zod';

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

/** Ceph RBD image features krbd can map (journaling is librbd-only). */
export const RBD_FEATURES = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'] as const;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MON_HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;

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
  secretRef: z.strictObject({
    name: z.string().regex(K8S_NAME),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
  }).optional().describe('Kubernetes Secret with userID/userKey, for calls that carry no CSI secrets'),
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

// Every pool type: one entry here per type, each schema defined above.
const TYPE_SCHEMAS = [DirPoolSchema, RbdPoolSchema] as const;
export const PoolSchema = z.discriminatedUnion('type', TYPE_SCHEMAS);
export const POOL_TYPES: string[] = TYPE_SCHEMAS.map((s) => s.shape.type.value);
export type Pool = z.infer<typeof PoolSchema>;
export type PoolType = Pool['type'];
export type DirPool = z.infer<typeof DirPoolSchema>;
export type RbdPool = z.infer<typeof RbdPoolSchema>;

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
