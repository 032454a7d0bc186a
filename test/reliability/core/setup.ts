// What every lane's setup shares: a scratch root with a staging directory and a pools file
// (scratch), and for the fuzz a bait tree beside the pools that must come through untouched, the
// staging paths requests may name, the driver's own files left out of the file-system diff, and
// argv allowed only under the scratch root plus the type's own roots (baitedFuzzSetup).
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FuzzSetup } from './suite.js';

export interface BaitOptions {
  /** The lane's scratch root (bait, pools file, socket, log). */
  root: string;
  stagingRoot: string;
  pools: string[];
  nodeIds: string[];
  /** More paths a hostile request may name (the backend's own device or config directories). */
  bait: string[];
  /** More paths under root the driver changes on purpose (pool directories). */
  skip: string[];
  programs: string[];
  /** Where else argv may point (besides root). */
  roots: string[];
  stable?: string[];
  busy?: string[];
  boundMs?: number;
}

export async function baitedFuzzSetup(o: BaitOptions): Promise<FuzzSetup> {
  const bait = join(o.root, 'outside');
  await mkdir(join(bait, 'keep'), { recursive: true });
  await writeFile(join(bait, 'keep', 'file'), 'must survive the fuzz\n');
  const stage = o.stagingRoot;
  return {
    pools: o.pools,
    nodeIds: o.nodeIds,
    goodPaths: [join(stage, 'fuzz'), join(stage, 'fuzz-target')],
    baitPaths: [bait, join(bait, 'keep'), join(bait, 'keep', 'file'), ...o.bait],
    areas: {
      trees: [o.root],
      skip: [stage, ...o.skip, join(o.root, 'driver.log'), join(o.root, 'csi.sock')],
      stable: o.stable ?? ['/', '/etc'],
      busy: o.busy ?? ['/tmp', '/run'],
      mountRoots: [stage],
    },
    argv: { programs: o.programs, roots: [o.root, ...o.roots] },
    boundMs: o.boundMs ?? 60_000,
  };
}

/** A lane's scratch root with its staging directory and a pools file: the pool under test and
 * a `dir` pool `local` beside it (the fuzz's other pool). JSON is YAML. */
export async function scratch(kind: string, root: string | undefined, pool: object): Promise<{ root: string; stage: string; poolsFile: string }> {
  const r = root ?? await mkdtemp(`/tmp/poolcsi-rel-${kind}-`);
  const stage = join(r, 'stage');
  await mkdir(stage, { recursive: true });
  await mkdir(join(r, 'dirpool'), { recursive: true });
  const poolsFile = join(r, 'pools.yaml');
  await writeFile(poolsFile, JSON.stringify({ pools: [pool, { id: 'local', type: 'dir', path: join(r, 'dirpool') }] }));
  return { root: r, stage, poolsFile };
}
