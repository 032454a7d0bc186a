// dm-multipath for an iscsi volume reached over more than one portal. The host's multipathd owns
// the map: it assembles it, checks the paths and reinstates one that comes back. poolcsi only
// admits the LUN's WWID (multipath -a: Debian's default find_multipaths "strict" takes known
// WWIDs only), hands multipathd the paths and waits for the map in sysfs; on detach it flushes
// the map (multipath -f) and forgets the WWID (multipath -w) before the disks go, so multipathd
// has nothing to build it again from.
//   /sys/block/<disk>/holders/dm-N                 the map a path belongs to
//   /sys/block/dm-N/dm/{name,uuid}                 uuid "mpath-<wwid>" for multipath maps
//   /sys/block/dm-N/slaves/<disk>                  its paths
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../../exec/index.js';
import { waitFor } from '../../exec/wait.js';
import { execFailure, NodeError } from '../errors.js';

const TIMEOUT_MS = 60_000;

export interface MultipathMap {
  /** dm-N */
  dm: string;
  /** The map's name (its WWID, or mpathX with user_friendly_names). */
  name: string;
  /** Its paths (sdX). */
  slaves: string[];
}

const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
const text = (path: string) => readFile(path, 'utf8').then((t) => t.trim(), () => '');

/** The multipath map holding any of `disks`, from sysfs. */
export async function mapOf(sysfs: string, disks: readonly string[]): Promise<MultipathMap | undefined> {
  for (const disk of disks) {
    for (const dm of (await list(join(sysfs, 'block', disk, 'holders'))).filter((h) => /^dm-[0-9]+$/.test(h))) {
      const dir = join(sysfs, 'block', dm);
      if (!(await text(join(dir, 'dm', 'uuid'))).startsWith('mpath-')) continue;
      return { dm, name: await text(join(dir, 'dm', 'name')), slaves: (await list(join(dir, 'slaves'))).sort() };
    }
  }
  return undefined;
}

/** The map's name, checked before it reaches an argv: what multipath and dmsetup print. */
function nameOf(m: MultipathMap): string {
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(m.name)) throw new NodeError('internal', `multipath map ${m.dm} has a name poolcsi does not pass on: "${m.name.slice(0, 80)}"`);
  return m.name;
}

export class Multipath {
  constructor(private readonly runner: Runner, private readonly sysfs: string, private readonly waitMs: number) {}

  private async run(program: 'multipath' | 'multipathd', args: string[], doing: string, okCodes = [0]): Promise<string> {
    try {
      return (await this.runner.run(program, args, { timeoutMs: TIMEOUT_MS, okCodes })).stdout;
    } catch (e) {
      throw execFailure(e, `${doing} (a pool with more than one portal needs multipath-tools and a running multipathd on the node)`);
    }
  }

  /**
   * The map over exactly `disks` (paths to one LUN), made by multipathd when missing. multipathd
   * refuses a path udev has not described yet ("failed to get udev uid": a disk just logged in),
   * and takes it by itself once udev has; so paths missing from the map are handed to it again,
   * at most once a second, until the map holds them all or the deadline passes.
   */
  async assemble(disks: readonly string[]): Promise<MultipathMap> {
    const have = await mapOf(this.sysfs, disks);
    if (have && disks.every((d) => have.slaves.includes(d))) return have;
    await this.run('multipath', ['-a', `/dev/${disks[0]}`], `admitting the WWID of /dev/${disks[0]} (multipath -a)`);
    const answers = new Map<string, string>();
    let handed = 0;
    return waitFor(async () => {
      const m = await mapOf(this.sysfs, disks);
      const missing = disks.filter((d) => !m?.slaves.includes(d));
      if (missing.length === 0) return m;
      if (Date.now() - handed >= 1_000) {
        handed = Date.now();
        for (const d of missing) answers.set(d, (await this.run('multipathd', ['add', 'path', d], `handing ${d} to multipathd`, [0, 1])).trim());
      }
      return undefined;
    }, { timeoutMs: this.waitMs, what: `multipathd's map over ${disks.join(', ')}` }).catch((e: unknown) => {
      const said = [...answers].map(([d, a]) => `${d}: ${a.slice(0, 80)}`).join(', ');
      throw new NodeError('unavailable', `${(e as Error).message}${said ? ` (multipathd add path answered ${said}; its log says why)` : ''}`, { cause: e });
    });
  }

  /** Flushes the map and forgets its WWID (nothing there is fine); the paths stay. multipathd
   * writes the WWID of a map it holds back into the file, so the WWID goes after the map. */
  async dismantle(disks: readonly string[]): Promise<void> {
    const m = await mapOf(this.sysfs, disks);
    if (m) await this.run('multipath', ['-f', nameOf(m)], `flushing multipath map ${m.name} (is it still open?)`);
    await this.run('multipath', ['-w', `/dev/${disks[0]}`], `forgetting the WWID of /dev/${disks[0]} (multipath -w)`);
    const again = await mapOf(this.sysfs, disks);
    if (again) throw new NodeError('unavailable', `multipathd built map ${again.name} over ${again.slaves.join(', ')} again while it was being taken down`);
  }

  /** Grows the map to its paths' size; multipathd refuses while a path is down, so this waits. */
  async resize(disks: readonly string[]): Promise<void> {
    const m = await mapOf(this.sysfs, disks);
    if (!m) throw new NodeError('unavailable', `no multipath map over ${disks.join(', ')}`);
    const name = nameOf(m);
    let last = '';
    await waitFor(async () => {
      last = await this.run('multipathd', ['resize', 'map', name], `resizing multipath map ${name}`);
      return last.trim() === 'ok';
    }, { timeoutMs: this.waitMs, intervalMs: 500, maxIntervalMs: 2_000, what: `multipathd to resize map ${m.name}` }).catch((e: unknown) => {
      throw new NodeError('unavailable', `${(e as Error).message}${last ? ` (last answer: ${last.trim().slice(0, 100)})` : ''}: is a path of it down?`, { cause: e });
    });
  }
}
