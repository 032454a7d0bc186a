// `poolcsi scan rbd`: what is in an rbd pool, as poolcsi sees it: every image with its size,
// parent, owner (the PVC recorded at create) and state, and what waits in the trash. For an
// operator looking for leftovers, or checking what a pool holds before adopting it.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { makeCephx, resolveCephx, withKeyfile } from '../backends/rbd/credentials.js';
import { CephCli } from '../backends/rbd/cli.js';
import { Images } from '../backends/rbd/images.js';
import { readState, userSnaps, FLATTEN_KEY } from '../backends/rbd/state.js';
import { DirSecrets, setSecretSource } from '../backends/secrets.js';
import { local } from '../exec/index.js';
import { parsePools } from '../pools/validate.js';
import type { RbdPool } from '../pools/schema.js';
import { humanBytes, table } from './format.js';

export const SCAN_RBD_HELP = `Usage: poolcsi scan rbd --pool ID [--pools-file FILE] [--secrets-dir DIR]
                        [--user NAME --keyfile FILE] [--json]

Lists the images of rbd pool ID: size, parent, owner (PVC namespace/name recorded when
poolcsi made it) and state (volume, deleted-kept-for-snapshots, incomplete, flatten-pending,
not-poolcsi), then the pool's trash.

  --pools-file    the pools.yaml (default: $POOLCSI_POOLS_FILE)
  --secrets-dir   read the pool's secretRef from DIR/NAMESPACE/NAME/KEY (default: the
                  Kubernetes API, with the current kubeconfig)
  --user, --keyfile  use this cephx user and key file instead of the pool's secretRef
  --json          one JSON document instead of a table
`;

export interface ScannedImage {
  image: string;
  size: number;
  parent?: string;
  owner?: string;
  state: 'volume' | 'deleted' | 'incomplete' | 'not-poolcsi';
  snapshots: number;
  flattenPending: boolean;
}

export async function scanRbd(pool: RbdPool, img: Images): Promise<{ images: ScannedImage[]; trash: Array<{ id: string; name: string }> }> {
  const entries = await img.list();
  const snapCount = new Map<string, number>();
  for (const e of entries) if (e.snapshot !== undefined) snapCount.set(e.image, (snapCount.get(e.image) ?? 0) + 1);
  const images: ScannedImage[] = [];
  for (const e of entries.filter((x) => x.snapshot === undefined)) {
    const [info, meta] = await Promise.all([img.info(e.image), img.meta(e.image)]);
    const st = readState(meta, e.image);
    const p = info?.parent;
    images.push({
      image: e.image,
      size: e.size,
      ...(p ? { parent: `${p.pool === pool.pool ? '' : `${p.pool}/`}${p.image}@${p.snapshot}${p.trash ? ' (trash)' : ''}` } : {}),
      ...(st?.pvc ? { owner: `${st.pvc.namespace}/${st.pvc.name}` } : {}),
      state: !st ? 'not-poolcsi' : st.deleted ? 'deleted' : st.complete ? 'volume' : 'incomplete',
      snapshots: userSnaps((await img.snaps(e.image)) ?? []).length,
      flattenPending: Boolean(meta?.[FLATTEN_KEY]),
    });
  }
  const trash = (await img.trashList()).map((t) => ({ id: t.id, name: t.name }));
  return { images, trash };
}


export async function scanRbdCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(SCAN_RBD_HELP); return 0; }
  const { values } = parseArgs({
    args,
    options: {
      pool: { type: 'string' }, 'pools-file': { type: 'string' }, 'secrets-dir': { type: 'string' },
      user: { type: 'string' }, keyfile: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  const file = values['pools-file'] ?? process.env.POOLCSI_POOLS_FILE;
  if (!values.pool || !file) { process.stderr.write(`poolcsi scan: --pool and --pools-file are required\n\n${SCAN_RBD_HELP}`); return 2; }
  const pool = parsePools(await readFile(file, 'utf8')).pools.find((p) => p.id === values.pool);
  if (!pool || pool.type !== 'rbd') { process.stderr.write(`poolcsi scan: ${file} has no rbd pool "${values.pool}"\n`); return 1; }
  if (values['secrets-dir']) setSecretSource(new DirSecrets(values['secrets-dir']));
  const cred = values.keyfile
    ? makeCephx(values.user ?? pool.user, await readFile(values.keyfile, 'utf8'), `key file ${values.keyfile}`)
    : await resolveCephx(pool, undefined);
  const result = await withKeyfile(cred, (keyfile) => scanRbd(pool, new Images(new CephCli(local, pool, {
    monhost: pool.monhost, user: cred.user, keyfile, timeoutSeconds: pool.timeoutSeconds,
  }))));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ pool: pool.id, cephPool: pool.pool, ...result }, null, 2)}\n`);
    return 0;
  }
  const rows = result.images.map((i) => [i.image, humanBytes(i.size), i.parent ?? '-', i.owner ?? '-', i.flattenPending ? `${i.state},flatten-pending` : i.state, String(i.snapshots)]);
  process.stdout.write(`pool ${pool.id} (ceph pool ${pool.pool}): ${result.images.length} images\n${table(['IMAGE', 'SIZE', 'PARENT', 'OWNER', 'STATE', 'SNAPS'], rows)}`);
  if (result.trash.length) process.stdout.write(`\ntrash:\n${table(['ID', 'NAME'], result.trash.map((t) => [t.id, t.name]))}`);
  return 0;
}
