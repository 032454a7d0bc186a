// `rbd`: the volume is an RBD image the kernel maps (krbd).
//   rbd.monhost     monitors, comma-separated (host, host:port, [ipv6]:port)
//   rbd.pool        the RADOS pool
//   rbd.image       the image
//   rbd.mapOptions  extra krbd map options, comma-separated (optional)
//   rbd.udev        auto | on | off: whether udev runs here (off maps with noudev)
// Mapping uses the CO's node-stage secrets (userID, userKey), never the pool's admin key.
// Unmapping and the condition read the mappings from sysfs: no process, no cluster, no credentials.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { ExecError, waitFor, type Runner } from '../../exec/index.js';
import { NodeError } from '../errors.js';
import { checkCephx, USER_ID, USER_KEY, withKeyfile } from './cephx.js';
import { featurePlan, kernelFeatures } from './rbd-features.js';
import { checkKeys, checkValue, isValidHostPort, isValidRbdName } from './grammar.js';
import type { AttachOptions, Attached, Condition, Descriptor, Stashed, Transport } from './types.js';

/** The environment for ceph tools: no CEPH_ARGS from outside, a C locale. */
const CEPH_ENV: Record<string, string> = { CEPH_ARGS: '', TZ: 'UTC', LC_ALL: 'C' };
const MAP_OPTION = /^[a-z0-9_]+(=[A-Za-z0-9_.:-]+)?$/;
const MAP_TIMEOUT_MS = 180_000;
const MON_TIMEOUT_S = 20;
// errno values rbd exits with.
const ENOENT = 2; const EPERM = 1; const EACCES = 13; const EBUSY = 16; const EINVAL = 22; const ETIMEDOUT = 110;

export interface MappedDevice { pool: string; namespace: string; name: string; snap: string; device: string }

/** The kernel's mappings, read from `<sysfs>/bus/rbd/devices/<id>/` as `rbd device list` reads
 * them (pool, pool_ns, name, current_snap; the device is /dev/rbd<id>), without its process. A
 * device unmapped while it is read is left out; any other failure to read is UNAVAILABLE. */
export async function readMappings(sysfs: string): Promise<MappedDevice[]> {
  const root = `${sysfs}/bus/rbd/devices`;
  // Only "not there" means "nothing mapped": any other failure must not let an unstage answer
  // OK while a device may still be mapped.
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
  const failed = (e: unknown): never => { throw new NodeError('unavailable', `reading the rbd mappings in ${root}: ${(e as Error).message}`); };
  const ids = (await readdir(root).catch((e: unknown) => (gone(e) ? [] as string[] : failed(e))))
    .filter((id) => /^[0-9]+$/.test(id)).sort((a, b) => Number(a) - Number(b));
  const read = (id: string, attr: string) => readFile(`${root}/${id}/${attr}`, 'utf8').then((v) => v.trim());
  const found = await Promise.all(ids.map(async (id): Promise<MappedDevice | undefined> => {
    try {
      // pool_ns came with namespaces (Linux 4.19); older kernels have none.
      const [pool, namespace, name, snap] = await Promise.all([read(id, 'pool'), read(id, 'pool_ns').catch((e: unknown) => (gone(e) ? '' : failed(e))), read(id, 'name'), read(id, 'current_snap')]);
      return { pool, namespace, name, snap, device: `/dev/rbd${id}` };
    } catch (e) {
      if (gone(e)) return undefined; // unmapped while it was read
      throw e instanceof NodeError ? e : failed(e);
    }
  }));
  return found.filter((d): d is MappedDevice => d !== undefined);
}

/** The mappings of image pool/image (no snapshot, no namespace). */
export function findMapping(devices: readonly MappedDevice[], pool: string, image: string): MappedDevice[] {
  return devices.filter((m) => m.pool === pool && m.namespace === '' && m.name === image && m.snap === '-');
}

/** Whether udev runs here (its control socket exists); without it rbd must be told noudev. */
export function udevRuns(setting: string, control = '/run/udev/control'): boolean {
  return setting === 'on' || (setting === 'auto' && existsSync(control));
}

/** `-o` for rbd map/unmap: noudev where needed, then the pool's options. */
export function mapOptionArgs(udev: boolean, extra: readonly string[] = []): string[] {
  const opts = [...(udev ? [] : ['noudev']), ...extra];
  return opts.length ? ['-o', opts.join(',')] : [];
}

/** The cluster connection of every `rbd` run that needs one (the key is in `keyfile`, never in argv). */
export function connectionArgs(d: Descriptor, user: string, keyfile: string): string[] {
  return [
    '--conf', '/dev/null', '-m', d.monhost!, '--id', user, '--keyfile', keyfile,
    '--client-mount-timeout', String(MON_TIMEOUT_S), '--rados-mon-op-timeout', String(3 * MON_TIMEOUT_S),
  ];
}

/** argv of `rbd map`. */
export function mapArgs(d: Descriptor, user: string, keyfile: string, readonly: boolean, udev: boolean): string[] {
  const extra = d.mapOptions ? d.mapOptions.split(',') : [];
  return [...connectionArgs(d, user, keyfile), 'map', `${d.pool}/${d.image}`, ...(readonly ? ['--read-only'] : []), ...mapOptionArgs(udev, extra)];
}

/** The features of an image, from `rbd info --format json`. */
export function parseInfoFeatures(text: string): string[] {
  let doc: { features?: unknown };
  try { doc = JSON.parse(text); } catch (e) { throw new NodeError('internal', `rbd info printed no JSON: ${(e as Error).message}`); }
  if (!Array.isArray(doc.features) || !doc.features.every((f) => typeof f === 'string')) throw new NodeError('internal', 'rbd info has no feature list');
  return doc.features as string[];
}

export function unmapArgs(device: string, udev: boolean): string[] {
  return ['--conf', '/dev/null', 'unmap', ...mapOptionArgs(udev), device];
}

export class RbdTransport implements Transport {
  readonly kind = 'rbd';

  constructor(private readonly runner: Runner, private readonly opts: { sysfs?: string; deviceWaitMs?: number } = {}) {}

  private get sysfs(): string { return this.opts.sysfs ?? '/sys'; }

  parse(d: Descriptor): Descriptor {
    checkKeys(d, this.kind, ['monhost', 'pool', 'image', 'mapOptions', 'udev']);
    const out: Record<string, string> = {
      monhost: checkValue(d, 'monhost', 'rbd.monhost', (v) => v.split(',').every(isValidHostPort), 'a comma-separated list of monitors'),
      pool: checkValue(d, 'pool', 'rbd.pool', isValidRbdName, 'a RADOS pool name'),
      image: checkValue(d, 'image', 'rbd.image', isValidRbdName, 'an RBD image name'),
      udev: d.udev === undefined ? 'auto' : checkValue(d, 'udev', 'rbd.udev', (v) => ['auto', 'on', 'off'].includes(v), 'auto, on or off'),
    };
    if (d.mapOptions) {
      out.mapOptions = checkValue(d, 'mapOptions', 'rbd.mapOptions', (v) => v.split(',').every((o) => MAP_OPTION.test(o) && !/^(ro|read_only|rw)$/.test(o)), 'krbd map options (name or name=value)');
    }
    return out;
  }

  private async mapped(pool: string, image: string): Promise<MappedDevice[]> {
    return findMapping(await readMappings(this.sysfs), pool, image);
  }

  /** Whether the kernel maps `device` read-only (/sys/block/rbdN/ro). */
  private async deviceReadonly(device: string): Promise<boolean> {
    const ro = await readFile(`${this.sysfs}/block/${device.slice('/dev/'.length)}/ro`, 'utf8').catch(() => '0');
    return ro.trim() === '1';
  }

  async attach(raw: Descriptor, o: AttachOptions): Promise<Attached> {
    const d = this.parse(raw);
    const spec = `${d.pool}/${d.image}`;
    const existing = (await this.mapped(d.pool!, d.image!))[0];
    if (existing) {
      const ro = await this.deviceReadonly(existing.device);
      if (ro && !o.readonly) throw new NodeError('precondition', `image ${spec} is mapped read-only on this node at ${existing.device}; unstage it before staging it read-write`);
      return { kind: 'device', path: await waitForDevice(existing.device, this.opts.deviceWaitMs), stash: { device: existing.device }, readonly: ro };
    }
    const cred = checkCephx(o.secrets?.[USER_ID], o.secrets?.[USER_KEY], 'node-stage secrets');
    if (typeof cred === 'string') {
      throw new NodeError('invalid', `${cred}: mapping an RBD image needs the StorageClass's csi.storage.k8s.io/node-stage-secret-name/namespace (a cephx user with "profile rbd")`);
    }
    const udev = udevRuns(d.udev!);
    const out = await withKeyfile(cred, async (keyfile) => {
      const rbd = async (args: string[], what: string) => {
        try {
          return (await this.runner.run('rbd', [...connectionArgs(d, cred.user, keyfile), ...args], { timeoutMs: MAP_TIMEOUT_MS, env: CEPH_ENV })).stdout;
        } catch (e) {
          throw rbdFailure(e, `${what} as client.${cred.user}`);
        }
      };
      const map = async () => (await this.runner.run('rbd', mapArgs(d, cred.user, keyfile, o.readonly, udev), { timeoutMs: MAP_TIMEOUT_MS, env: CEPH_ENV })).stdout;
      // The map first: the kernel refuses an image with a feature it lacks (ENXIO, "feature
      // set mismatch"), and only then are the image's features read and fitted to it. A kernel
      // that maps them all (the common case) costs no `rbd info` (a process: a second on a small
      // node).
      try {
        return await map();
      } catch (e) {
        if (!(await this.fitFeatures(spec, rbd))) throw rbdFailure(e, `rbd map ${spec} as client.${cred.user}`);
      }
      try {
        return await map();
      } catch (e) {
        throw rbdFailure(e, `rbd map ${spec} as client.${cred.user}`);
      }
    });
    const printed = out.trim().split('\n').pop() ?? '';
    const device = /^\/dev\/rbd[0-9]+$/.test(printed) ? printed : (await this.mapped(d.pool!, d.image!))[0]?.device;
    if (!device) throw new NodeError('internal', `rbd map ${spec} succeeded but no device is listed for it`);
    return { kind: 'device', path: await waitForDevice(device, this.opts.deviceWaitMs), stash: { device }, readonly: o.readonly };
  }

  /** Disables the image features this kernel cannot map (when it says which it can); whether
   * it disabled any (a map refused for another reason stays refused). */
  private async fitFeatures(spec: string, rbd: (args: string[], what: string) => Promise<string>): Promise<boolean> {
    const supported = await kernelFeatures(`${this.sysfs}/bus/rbd/supported_features`);
    if (supported === undefined) return false;
    // Unreadable (the same trouble that refused the map): the map's own error says more.
    const info = await rbd(['info', spec, '--format', 'json'], `rbd info ${spec}`).catch(() => undefined);
    if (info === undefined) return false;
    const plan = featurePlan(parseInfoFeatures(info), supported);
    if (plan.blocking.length) {
      throw new NodeError('precondition', `image ${spec} uses features this node's kernel cannot map (${plan.blocking.join(', ')}); use rbd-nbd or recreate it without them`);
    }
    if (!plan.disable.length) return false;
    await rbd(['feature', 'disable', spec, ...plan.disable], `rbd feature disable ${spec} ${plan.disable.join(' ')}`);
    return true;
  }

  async detach(s: Stashed): Promise<void> {
    const { pool, image, udev } = s.descriptor;
    for (const m of await this.mapped(pool!, image!)) {
      try {
        await this.runner.run('rbd', unmapArgs(m.device, udevRuns(udev ?? 'auto')), { timeoutMs: 60_000, env: CEPH_ENV });
      } catch (e) {
        const err = rbdFailure(e, `rbd unmap ${m.device}`);
        if (err.kind === 'not-found') continue;
        if (e instanceof ExecError && e.exitCode === EBUSY) err.message = `${m.device} (${pool}/${image}) is still in use (mounted or open), cannot unmap it: ${err.message}`;
        throw err;
      }
    }
  }

  async condition(s: Stashed): Promise<Condition> {
    const m = (await this.mapped(s.descriptor.pool!, s.descriptor.image!))[0];
    return m ? { abnormal: false, message: `mapped at ${m.device}` } : { abnormal: true, message: `image ${s.descriptor.pool}/${s.descriptor.image} is not mapped on this node` };
  }
}

/** Waits until `path` is a block device node (devtmpfs makes it; udev may rename around it). */
async function waitForDevice(path: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(async () => ((await stat(path).catch(() => undefined))?.isBlockDevice() ? path : undefined), { timeoutMs, what: `block device ${path}` });
}

function rbdFailure(e: unknown, what: string): NodeError {
  if (e instanceof NodeError) return e;
  if (!(e instanceof ExecError)) return new NodeError('internal', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  const detail = e.stderr.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ') || e.message;
  if (e.reason === 'timeout' || e.exitCode === ETIMEDOUT) return new NodeError('unavailable', `${what}: the cluster did not answer: ${detail}`, { cause: e });
  if (e.reason === 'not-found') return new NodeError('precondition', `rbd is not installed on this node (package ceph-common): ${what}`, { cause: e });
  if (e.exitCode === EACCES || e.exitCode === EPERM) return new NodeError('denied', `${what}: Ceph refused the node-stage credentials: ${detail}`, { cause: e });
  if (e.exitCode === ENOENT) return new NodeError('not-found', `${what}: ${detail}`, { cause: e });
  if (e.exitCode === EBUSY || e.exitCode === EINVAL) return new NodeError('precondition', `${what}: ${detail}`, { cause: e });
  return new NodeError('internal', `${what}: ${detail}`, { cause: e });
}
