// The agent's boundary check: the arguments a controller sends are external input (a
// compromised controller must not steer a node outside its pools), so each method's JSON
// arguments are checked against the id grammar and their shapes before any backend sees them.
import { z } from 'zod';
import { invalid } from '../backends/errors.js';
import { isSnapshotName, isVolumeName } from '../pools/ids.js';
import type { AgentMethod } from './proto.js';

const volumeName = z.string().refine(isVolumeName, 'not a volume name');
const snapshotName = z.string().refine(isSnapshotName, 'not a snapshot name');
/** A Kubernetes node name (DNS subdomain). */
const nodeName = z.string().max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'not a node name');
/** A CO request name or PVC metadata: printable, bounded. */
const label = z.string().min(1).max(253).regex(/^[^\0-\x1f\x7f/]+$/, 'control characters or "/"');
const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const source = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('snapshot'), volume: volumeName, snapshot: snapshotName }),
  z.strictObject({ kind: z.literal('volume'), volume: volumeName }),
]);

const createSpec = z.strictObject({
  name: volumeName,
  requestName: z.string().min(1).max(1024).regex(/^[^\0-\x1f\x7f]+$/, 'control characters'),
  sizeBytes: bytes,
  limitBytes: bytes,
  mode: z.enum(['filesystem', 'block']),
  params: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, 'not a parameter name'), z.string().max(1024))
    .refine((p) => Object.keys(p).length <= 64, 'too many parameters'),
  source: source.optional(),
  pvc: z.strictObject({ namespace: label, name: label, pvName: label.optional() }).optional(),
});

const none = z.tuple([]);
const ARGS: Record<AgentMethod, z.ZodType<unknown[]>> = {
  createVolume: z.tuple([createSpec]),
  deleteVolume: z.tuple([volumeName]),
  getVolume: z.tuple([volumeName]),
  listVolumes: none,
  expandVolume: z.tuple([volumeName, bytes, bytes]),
  createSnapshot: z.tuple([volumeName, snapshotName, z.string().min(1).max(1024).regex(/^[^\0-\x1f\x7f]+$/, 'control characters')]),
  deleteSnapshot: z.tuple([volumeName, snapshotName]),
  getSnapshot: z.tuple([volumeName, snapshotName]),
  listSnapshots: none,
  capacity: none,
  publish: z.tuple([volumeName, nodeName, z.strictObject({ readonly: z.boolean(), multiNode: z.boolean() })]),
  // JSON has no undefined: an absent node arrives as null.
  unpublish: z.tuple([volumeName, nodeName.nullable()]),
};

/** The checked positional arguments of `method` (absent optionals as undefined), or 'invalid'. */
export function agentArgs(method: AgentMethod, args: unknown): unknown[] {
  const r = ARGS[method].safeParse(args);
  if (!r.success) {
    const first = r.error.issues.slice(0, 3).map((i) => `${i.path.length ? `argument ${i.path.join('.')}` : 'arguments'}: ${i.message}`);
    throw invalid(`agent call ${method}: ${first.join('; ')}${r.error.issues.length > 3 ? ` (${r.error.issues.length} problems)` : ''}`);
  }
  return r.data.map((a) => a ?? undefined);
}
