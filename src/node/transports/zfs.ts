// `zfs`: the volume is a ZFS dataset on this node (zfspool pools).
//   zfs.dataset  <parent>/<volume>; ZFS says whether it is a zvol or a filesystem
// A zvol is reached through the /dev/zvol/<dataset> link that ZFS's udev rule makes (a zvol
// has no other name-to-device map); a filesystem dataset is mounted by ZFS (`zfs mount`) and
// its mountpoint is bind-mounted like a dir pool's directory.
import { realpath, stat } from 'node:fs/promises';
import { ExecError, waitFor, type Runner } from '../../exec/index.js';
import { NodeError } from '../errors.js';
import { checkKeys, checkValue } from './grammar.js';
import { HEALTH_TTL_MS, type Attached, type Condition, type Descriptor, type Stashed, type Transport } from './types.js';

const TIMEOUT_MS = 120_000;
/** udev makes the /dev/zvol link shortly after the zvol appears (or this node boots). */
const ZVOL_LINK_TIMEOUT_MS = 30_000;
const COLUMNS = ['name', 'type', 'mounted', 'mountpoint'];

/** A dataset name as poolcsi makes them: "/"-joined components of [A-Za-z0-9_.:-]. */
export function isZfsDatasetName(n: string): boolean {
  return n.length <= 255 && n.includes('/') && n.split('/').every((c) => /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/.test(c));
}

export function zfsInfoArgs(dataset: string): string[] {
  return ['list', '-H', '-p', '-t', 'filesystem,volume', '-o', COLUMNS.join(','), dataset];
}

export interface ZfsInfo { name: string; type: 'filesystem' | 'volume'; mounted: boolean; mountpoint: string }

/** The parent's datasets and zvols, one level down: the conditions of all its volumes at once. */
export function zfsChildrenArgs(parent: string): string[] {
  return ['list', '-H', '-p', '-r', '-d', '1', '-t', 'filesystem,volume', '-o', COLUMNS.join(','), parent];
}

/** Every well-formed line (zfsInfoArgs or zfsChildrenArgs output). */
export function parseZfsInfos(out: string): ZfsInfo[] {
  const rows: ZfsInfo[] = [];
  for (const line of out.split('\n')) {
    const f = line.split('\t');
    if (f.length !== COLUMNS.length || (f[1] !== 'filesystem' && f[1] !== 'volume')) continue;
    rows.push({ name: f[0]!, type: f[1], mounted: f[2] === 'yes', mountpoint: f[3] === '-' ? '' : f[3]! });
  }
  return rows;
}

export function parseZfsInfo(out: string): ZfsInfo | undefined {
  return parseZfsInfos(out)[0];
}

export class ZfsTransport implements Transport {
  readonly kind = 'zfs';
  /** Per parent dataset: one listing answers every volume's condition for HEALTH_TTL_MS. */
  private readonly reports = new Map<string, { at: number; rows: Promise<ZfsInfo[]> }>();

  constructor(private readonly runner: Runner) {}

  parse(d: Descriptor): Descriptor {
    checkKeys(d, this.kind, ['dataset']);
    return { dataset: checkValue(d, 'dataset', 'zfs.dataset', isZfsDatasetName, 'a ZFS dataset name') };
  }

  private async info(dataset: string): Promise<ZfsInfo | undefined> {
    try {
      return parseZfsInfo((await this.runner.run('zfs', zfsInfoArgs(dataset), { timeoutMs: TIMEOUT_MS })).stdout);
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit' && /dataset does not exist/i.test(e.stderr)) return undefined;
      throw zfsFailure(e, `reading dataset ${dataset}`);
    }
  }

  async attach(raw: Descriptor): Promise<Attached> {
    const dataset = this.parse(raw).dataset!;
    this.reports.delete(parentOf(dataset));
    const info = await this.info(dataset);
    if (!info) throw new NodeError('not-found', `dataset ${dataset} does not exist on this node`);
    if (info.type === 'volume') {
      const link = `/dev/zvol/${dataset}`;
      const path = await waitFor(async () => {
        const dev = await realpath(link);
        return (await stat(dev)).isBlockDevice() ? dev : undefined;
      }, { timeoutMs: ZVOL_LINK_TIMEOUT_MS, what: `${link} (made by udev)` }).catch((e: Error) => {
        throw new NodeError('unavailable', `zvol ${dataset} has no device: ${e.message}`);
      });
      return { kind: 'device', path, stash: {} };
    }
    if (!info.mountpoint.startsWith('/')) {
      throw new NodeError('precondition', `dataset ${dataset} has mountpoint "${info.mountpoint || 'none'}"; poolcsi needs ZFS to mount it (an inherited path)`);
    }
    if (!info.mounted) {
      try {
        await this.runner.run('zfs', ['mount', dataset], { timeoutMs: TIMEOUT_MS });
      } catch (e) {
        // Mounted meanwhile (another stage of the same volume) is fine; anything else is not.
        const again = await this.info(dataset);
        if (!again?.mounted) throw zfsFailure(e, `mounting dataset ${dataset}`);
      }
    }
    return { kind: 'directory', path: info.mountpoint, stash: {} };
  }

  /** Datasets stay mounted and zvols stay present after unstage: ZFS owns both. */
  async detach(): Promise<void> { /* nothing */ }

  /** The parent's children, one listing shared for HEALTH_TTL_MS (and by the callers meanwhile);
   * `fresh` reads again. A missing parent lists nothing; a failed listing is not kept. */
  private report(parent: string, fresh = false): Promise<ZfsInfo[]> {
    const c = this.reports.get(parent);
    if (c && !fresh && Date.now() - c.at < HEALTH_TTL_MS) return c.rows;
    const rows = this.runner.run('zfs', zfsChildrenArgs(parent), { timeoutMs: TIMEOUT_MS }).then((r) => parseZfsInfos(r.stdout), (e: unknown) => {
      if (e instanceof ExecError && e.reason === 'exit' && /dataset does not exist/i.test(e.stderr)) return [];
      throw zfsFailure(e, `listing the datasets under ${parent}`);
    });
    this.reports.set(parent, { at: Date.now(), rows });
    rows.catch(() => { if (this.reports.get(parent)?.rows === rows) this.reports.delete(parent); });
    return rows;
  }

  async condition(s: Stashed): Promise<Condition> {
    const dataset = s.descriptor.dataset!;
    const find = async (fresh: boolean) => (await this.report(parentOf(dataset), fresh)).find((r) => r.name === dataset);
    // Missing from a shared listing: read again before saying so (it may predate the volume).
    const info = (await find(false)) ?? (await find(true));
    if (!info) return { abnormal: true, message: `dataset ${dataset} is missing` };
    if (info.type === 'filesystem' && !info.mounted) return { abnormal: true, message: `dataset ${dataset} is not mounted` };
    return { abnormal: false, message: `${info.type === 'volume' ? 'zvol' : 'dataset'} ${dataset} present` };
  }
}

const parentOf = (dataset: string) => dataset.slice(0, dataset.lastIndexOf('/'));

function zfsFailure(e: unknown, doing: string): NodeError {
  if (e instanceof NodeError) return e;
  if (e instanceof ExecError) {
    const detail = e.stderr.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ') || e.message;
    return new NodeError(e.reason === 'exit' ? 'internal' : 'unavailable', `${doing}: ${detail}`, { cause: e });
  }
  return new NodeError('internal', `${doing}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
