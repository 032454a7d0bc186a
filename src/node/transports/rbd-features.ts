// Which image features this node's kernel maps (krbd), and what to do about the others.
import { readFile } from 'node:fs/promises';

/** Image feature bits (librbd/Features.h). */
export const FEATURE_BITS: Readonly<Record<string, number>> = {
  layering: 1, striping: 2, 'exclusive-lock': 4, 'object-map': 8, 'fast-diff': 16, 'deep-flatten': 32,
  journaling: 64, 'data-pool': 128, operations: 256, migrating: 512, 'non-primary': 1024,
};

/** Features that can be turned off on an existing image, dependents first. */
const DISABLE_ORDER = ['journaling', 'fast-diff', 'object-map', 'exclusive-lock', 'deep-flatten'];

/** The feature mask this kernel maps (undefined before rbd is loaded, or on kernels < 4.11). */
export async function kernelFeatures(path = '/sys/bus/rbd/supported_features'): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 16);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

/**
 * What to do about an image's features on this kernel: the ones to disable before mapping,
 * or the ones that block mapping altogether (they cannot be disabled).
 */
export function featurePlan(features: string[], supported: number | undefined): { disable: string[]; blocking: string[] } {
  if (supported === undefined) return { disable: [], blocking: [] };
  const missing = features.filter((f) => (FEATURE_BITS[f] ?? 0) & ~supported || FEATURE_BITS[f] === undefined);
  const disable = DISABLE_ORDER.filter((f) => missing.includes(f));
  // Disabling exclusive-lock needs object-map and fast-diff off first: take them along.
  if (disable.includes('exclusive-lock')) for (const f of ['object-map', 'fast-diff']) if (features.includes(f) && !disable.includes(f)) disable.push(f);
  if (disable.includes('object-map') && features.includes('fast-diff') && !disable.includes('fast-diff')) disable.push('fast-diff');
  return {
    disable: DISABLE_ORDER.filter((f) => disable.includes(f)),
    blocking: missing.filter((f) => !DISABLE_ORDER.includes(f)),
  };
}
