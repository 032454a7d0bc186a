// Idempotency rules shared by every backend: what "the same request again" means.
import { exists, precondition } from './errors.js';
import type { CreateSpec, PublishOptions, VolumeRecord } from './types.js';

/** Same name again: fine when it is the same request, an ALREADY_EXISTS conflict otherwise. */
export function checkCompatible(existing: VolumeRecord, spec: CreateSpec): void {
  const problems: string[] = [];
  if (existing.sizeBytes < spec.sizeBytes) problems.push(`it has ${existing.sizeBytes} bytes, ${spec.sizeBytes} required`);
  if (spec.limitBytes > 0 && existing.sizeBytes > spec.limitBytes) problems.push(`it has ${existing.sizeBytes} bytes, limit ${spec.limitBytes}`);
  if (existing.mode !== spec.mode) problems.push(`it is a ${existing.mode} volume`);
  if (JSON.stringify(existing.source ?? null) !== JSON.stringify(spec.source ?? null)) problems.push('it has a different content source');
  if (existing.requestName !== spec.requestName) problems.push(`it was created for request "${existing.requestName}"`);
  if (problems.length) throw exists(`volume ${existing.name} already exists and does not match: ${problems.join('; ')}`);
}

/**
 * Adds `node` to the record's publications; the same node with another read-only flag conflicts,
 * and a single-node access mode refuses a second node while the first still has the volume.
 */
export function recordPublish(rec: VolumeRecord, node: string, opts: PublishOptions): void {
  const others = Object.keys(rec.published ?? {}).filter((n) => n !== node);
  if (!opts.multiNode && others.length) {
    throw precondition(`volume ${rec.name} is published to node ${others.join(', ')}; its access mode allows one node at a time, so it cannot be published to ${node} until it is unpublished there`);
  }
  const prior = rec.published?.[node];
  if (prior && prior.readonly !== opts.readonly) {
    throw exists(`volume ${rec.name} is already published to node ${node} ${prior.readonly ? 'read-only' : 'read-write'}`);
  }
  rec.published = { ...rec.published, [node]: { readonly: opts.readonly } };
}
