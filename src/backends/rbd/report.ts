// Parsing what `rbd ... --format json` and `ceph df --format json` print (Ceph 16 "pacific"
// and later; fixtures in test/fixtures/rbd/ are recorded from real runs). Only the fields
// poolcsi uses are checked; anything else may change freely.
import { z } from 'zod';

const ParentSchema = z.looseObject({
  pool: z.string(),
  pool_namespace: z.string().default(''),
  image: z.string(),
  id: z.string().default(''),
  snapshot: z.string(),
  trash: z.boolean().default(false),
  overlap: z.number().default(0),
});

const InfoSchema = z.looseObject({
  name: z.string(),
  id: z.string(),
  size: z.number(),
  features: z.array(z.string()).default([]),
  op_features: z.array(z.string()).default([]),
  snapshot_count: z.number().default(0),
  create_timestamp: z.string().optional(),
  parent: ParentSchema.optional(),
});

const LsSchema = z.array(z.looseObject({
  image: z.string(),
  id: z.string().default(''),
  size: z.number(),
  snapshot: z.string().optional(),
  snapshot_id: z.number().optional(),
  parent: z.looseObject({ pool: z.string(), image: z.string(), snapshot: z.string() }).optional(),
}));

const SnapSchema = z.array(z.looseObject({
  id: z.number(),
  name: z.string(),
  size: z.number(),
  timestamp: z.string(),
  namespace: z.looseObject({ type: z.string() }).optional(),
}));

const TrashSchema = z.array(z.looseObject({
  id: z.string(),
  name: z.string(),
  source: z.string().default('USER'),
  status: z.string().default(''),
}));

const MetaSchema = z.record(z.string(), z.string());

const DfSchema = z.looseObject({
  pools: z.array(z.looseObject({
    name: z.string(),
    stats: z.looseObject({ stored: z.number().default(0), bytes_used: z.number().default(0), max_avail: z.number() }),
  })).default([]),
});

export interface ImageInfo {
  name: string;
  id: string;
  size: number;
  features: string[];
  /** "clone-child", "clone-parent", "snap-trash"... */
  opFeatures: string[];
  snapshotCount: number;
  parent?: ParentRef;
}

export interface ParentRef { pool: string; namespace: string; image: string; id: string; snapshot: string; trash: boolean }

/** One line of `rbd ls -l`: an image, or (with `snapshot`) one of its snapshots. */
export interface LsEntry {
  image: string;
  id: string;
  size: number;
  snapshot?: string;
  snapshotId?: number;
  parent?: { pool: string; image: string; snapshot: string };
}

export interface SnapEntry {
  id: number;
  name: string;
  size: number;
  createdAt: string;
  /** "user", or "trash" for a removed snapshot kept for its clones (clone v2). */
  namespace: string;
}

export interface TrashEntry { id: string; name: string; source: string; expired: boolean }


export interface PoolUsage { name: string; stored: number; used: number; maxAvail: number }

export class ReportError extends Error {
  constructor(what: string, detail: string) {
    super(`unexpected output from ${what}: ${detail}`);
    this.name = 'ReportError';
  }
}

function parse<T extends z.ZodType>(schema: T, text: string, what: string, empty?: z.infer<T>): z.infer<T> {
  const trimmed = text.trim();
  // Some commands print nothing instead of [] or {} (image-meta list without metadata).
  if (!trimmed && empty !== undefined) return empty;
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    throw new ReportError(what, `not JSON: ${JSON.stringify(trimmed.slice(0, 120))}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ReportError(what, r.error.issues.map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; '));
  return r.data;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** rbd prints ctime(3) style times in its local zone; poolcsi runs it with TZ=UTC. */
export function parseRbdTime(text: string): string {
  const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(text.trim());
  const month = m ? MONTHS.indexOf(m[1]!) : -1;
  if (!m || month < 0) throw new ReportError('rbd', `timestamp ${JSON.stringify(text)}`);
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]))).toISOString();
}

export function parseInfo(text: string): ImageInfo {
  const i = parse(InfoSchema, text, 'rbd info');
  const p = i.parent;
  return {
    name: i.name,
    id: i.id,
    size: i.size,
    features: i.features,
    opFeatures: i.op_features,
    snapshotCount: i.snapshot_count,
    ...(p ? { parent: { pool: p.pool, namespace: p.pool_namespace, image: p.image, id: p.id, snapshot: p.snapshot, trash: p.trash } } : {}),
  };
}

export function parseLs(text: string): LsEntry[] {
  return parse(LsSchema, text, 'rbd ls -l', []).map((e) => ({
    image: e.image,
    id: e.id,
    size: e.size,
    ...(e.snapshot !== undefined ? { snapshot: e.snapshot } : {}),
    ...(e.snapshot_id !== undefined ? { snapshotId: e.snapshot_id } : {}),
    ...(e.parent ? { parent: { pool: e.parent.pool, image: e.parent.image, snapshot: e.parent.snapshot } } : {}),
  }));
}

export function parseSnaps(text: string): SnapEntry[] {
  return parse(SnapSchema, text, 'rbd snap ls', []).map((s) => ({
    id: s.id, name: s.name, size: s.size, createdAt: parseRbdTime(s.timestamp), namespace: s.namespace?.type ?? 'user',
  }));
}

export function parseTrash(text: string): TrashEntry[] {
  return parse(TrashSchema, text, 'rbd trash ls', []).map((t) => ({
    id: t.id, name: t.name, source: t.source, expired: t.status.startsWith('expired'),
  }));
}

export function parseMeta(text: string): Record<string, string> {
  return parse(MetaSchema, text, 'rbd image-meta list', {});
}

export function parseDf(text: string): PoolUsage[] {
  return parse(DfSchema, text, 'ceph df').pools.map((p) => ({
    name: p.name, stored: p.stats.stored, used: p.stats.bytes_used, maxAvail: p.stats.max_avail,
  }));
}
