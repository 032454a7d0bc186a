// The kernel RBD client on a node: which images are mapped (sysfs, through `rbd device list`),
// which image features this kernel can map, mapping and unmapping. Devices are resolved from
// rbd's own output, never from udev symlinks: a node may run without udev (-o noudev).
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Runner } from '../../exec/index.js';
import { waitFor } from '../../exec/index.js';
import type { Logger } from '../../observe/log.js';
import { notFound, StorageError, unsupported } from '../errors.js';
import { cephError, type Target } from './errors.js';
import type { Images } from './images.js';
import { CEPH_ENV } from './cli.js';
import { parseDevices, type MappedDevice } from './report.js';

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

/** Whether udev runs here (its control socket exists); without it rbd must be told noudev. */
export function udevRuns(setting: 'auto' | 'on' | 'off', control = '/run/udev/control'): boolean {
  return setting === 'on' || (setting === 'auto' && existsSync(control));
}

/** `-o` value for rbd map/unmap: noudev where needed, then the pool's own options. */
export function mapOptions(udev: boolean, extra: readonly string[] = []): string[] {
  const opts = [...(udev ? [] : ['noudev']), ...extra];
  return opts.length ? ['-o', opts.join(',')] : [];
}

export async function mappedDevices(runner: Runner): Promise<MappedDevice[]> {
  // Reads sysfs only: no cluster, no credentials (NodeUnstage carries none).
  const r = await runner.run('rbd', ['--conf', '/dev/null', 'device', 'list', '--format', 'json'], { timeoutMs: 30_000, env: CEPH_ENV });
  return parseDevices(r.stdout);
}

export function findMapping(devices: MappedDevice[], pool: string, image: string): MappedDevice[] {
  return devices.filter((d) => d.pool === pool && d.namespace === '' && d.name === image && d.snap === '-');
}

/** Waits until `path` is a block device node (devtmpfs makes it; udev may rename around it). */
export async function waitForDevice(path: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(async () => ((await stat(path).catch(() => undefined))?.isBlockDevice() ? path : undefined), {
    timeoutMs, what: `block device ${path}`,
  });
}

export async function unmap(runner: Runner, device: string, udev: boolean, t: Target): Promise<void> {
  try {
    await runner.run('rbd', ['--conf', '/dev/null', 'unmap', ...mapOptions(udev), device], { timeoutMs: 60_000, env: CEPH_ENV });
  } catch (e) {
    const err = cephError(e, `rbd unmap ${device}`, t);
    if (err.kind === 'not-found') return;
    if (err.kind === 'precondition') err.message = `${device} is still in use (mounted or open), cannot unmap it: ${err.message}`;
    throw err;
  }
}

/** `rbd map` of an image not mapped here yet, its features fitted to this kernel first. */
export async function mapImage(img: Images, runner: Runner, name: string, udev: boolean, extra: readonly string[], log: Logger): Promise<string> {
  const info = await img.info(name);
  if (!info) throw notFound(`image ${img.spec(name)} does not exist`);
  const plan = featurePlan(info.features, await kernelFeatures());
  if (plan.blocking.length) {
    throw unsupported(`image ${img.spec(name)} uses features this node's kernel cannot map (${plan.blocking.join(', ')}); use rbd-nbd or recreate it without them`);
  }
  if (plan.disable.length) {
    log.warn({ image: name, disable: plan.disable }, 'kernel lacks image features; disabling them on the image');
    await img.featureDisable(name, plan.disable);
  }
  // Never `-o exclusive`: RWX block (live migration) maps on two nodes at once and the
  // exclusive lock moves between them on demand.
  const out = await img.cli.rbd(['map', img.spec(name), ...mapOptions(udev, extra)], { timeoutMs: img.cli.quickMs + 60_000 });
  const printed = out.trim().split('\n').pop() ?? '';
  if (/^\/dev\/rbd\d+$/.test(printed)) return printed;
  const listed = findMapping(await mappedDevices(runner), img.pool, name)[0]?.device;
  if (!listed) throw new StorageError('internal', `rbd map ${img.spec(name)} succeeded but no device is listed for it`);
  return listed;
}
