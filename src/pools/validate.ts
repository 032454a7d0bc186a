// Turning a pools document into Pools, with errors a person can act on:
// each names the pool (by id when it has one) and the field.
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { POOL_TYPES, PoolsFileSchema, type PoolsFile } from './schema.js';

export class PoolsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid pools: ${problems.join('; ')}`);
    this.name = 'PoolsError';
  }
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const path = issue.path;
  let where = path.map(String).join('.');
  if (path[0] === 'pools' && typeof path[1] === 'number') {
    const pool = (raw as { pools?: Array<{ id?: unknown }> }).pools?.[path[1]];
    const id = pool && typeof pool.id === 'string' ? `"${pool.id}"` : `#${path[1]}`;
    const field = path.slice(2).map(String).join('.');
    where = `pool ${id}${field ? ` field ${field}` : ''}`;
  }
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union' && path[path.length - 1] === 'type') {
    const t = (raw as { pools?: Array<{ type?: unknown }> }).pools?.[path[1] as number]?.type;
    msg = `unknown pool type ${JSON.stringify(t)} (known: ${POOL_TYPES.join(', ')})`;
  }
  return `${where || 'document'}: ${msg}`;
}

/** Validates an already-parsed document. */
export function validatePools(raw: unknown): PoolsFile {
  const r = PoolsFileSchema.safeParse(raw);
  if (!r.success) throw new PoolsError(r.error.issues.map((i) => describeIssue(raw, i)));
  return r.data;
}

/** Parses YAML (or JSON) text and validates it. */
export function parsePools(text: string): PoolsFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new PoolsError([`not valid YAML: ${(e as Error).message}`]);
  }
  if (raw === null || typeof raw !== 'object') throw new PoolsError(['document: expected a mapping with a "pools" list']);
  return validatePools(raw);
}
