// Runs in a lab node with Ceph: every command the librbd helper takes, once through the helper
// (src/backends/rbd/librbd.ts) and once as the `rbd` program, on the same images; prints one
// JSON line: per command, whether both gave the same report (parsed by report.ts, the driver's
// own parsers) or the same errno, with both answers when not.
//
// Usage: node dist/test/lab/tools/librbd-compare.js --keyfile FILE [--pool rbd]
// The key file stays where it is (the caller removes it); the images made are named cmp-*.
import { parseArgs } from 'node:util';
import { ExecError, local } from '../../../src/exec/index.js';
import { connectionArgs, CEPH_ENV } from '../../../src/backends/rbd/cli.js';
import { viaHelper } from '../../../src/backends/rbd/librbd.js';
import { parseDf, parseInfo, parseLs, parseMeta, parseSnaps, parseTrash } from '../../../src/backends/rbd/report.js';

const { values } = parseArgs({ options: { keyfile: { type: 'string' }, pool: { type: 'string', default: 'rbd' } } });
const pool = values.pool;
const conn = { monhost: ['127.0.0.1:6789'], user: 'admin', keyfile: values.keyfile!, timeoutSeconds: 10 };

type Outcome = { ok: true; out: string } | { ok: false; errno: number | undefined; reason: string; words: string[] };

/** Words of a failure the driver acts on (images.ts: `rbd rm`), besides the errno. */
const WORDS = ['linked clones', 'watchers'];
const wordsOf = (e: ExecError) => WORDS.filter((w) => e.stderr.includes(w));

async function cli(program: string, args: string[]): Promise<Outcome> {
  try {
    return { ok: true, out: (await local.run(program, [...connectionArgs(conn), ...args], { env: CEPH_ENV, timeoutMs: 60_000 })).stdout };
  } catch (e) {
    if (e instanceof ExecError) return { ok: false, errno: e.exitCode, reason: e.reason, words: wordsOf(e) };
    throw e;
  }
}

async function helper(program: string, args: string[]): Promise<Outcome | undefined> {
  try {
    const out = await viaHelper(local, conn, program, args, 60_000);
    return out === undefined ? undefined : { ok: true, out };
  } catch (e) {
    if (e instanceof ExecError) return { ok: false, errno: e.exitCode, reason: e.reason, words: wordsOf(e) };
    throw e;
  }
}

const must = async (args: string[]) => {
  const r = await cli('rbd', args);
  if (!r.ok) throw new Error(`rbd ${args.join(' ')}: errno ${r.errno}`);
};

const results: Array<{ command: string; same: boolean; helper?: unknown; cli?: unknown }> = [];

/** A read: both answers parsed; a change: the same change made on two twin images. */
async function compareRead(args: string[], parse: (s: string) => unknown, program = 'rbd'): Promise<void> {
  const h = await helper(program, args);
  const c = await cli(program, args);
  const view = (o: Outcome | undefined) => (o === undefined ? 'not taken' : o.ok ? parse(o.out) : { errno: o.errno, reason: o.reason, words: o.words });
  const hv = view(h);
  const cv = view(c);
  const same = JSON.stringify(hv) === JSON.stringify(cv);
  results.push({ command: `${program} ${args.join(' ')}`, same, ...(same ? {} : { helper: hv, cli: cv }) });
}

/** A change on twin images: `mk(name)` gives the argv for image `name`; then reads compare both. */
async function compareChange(label: string, mk: (name: string) => string[], check: (name: string) => string[]): Promise<void> {
  const h = await helper('rbd', mk('cmp-h'));
  const c = await cli('rbd', mk('cmp-c'));
  const view = (o: Outcome | undefined) => (o === undefined ? 'not taken' : o.ok ? 'ok' : { errno: o.errno, words: o.words });
  const after = async (name: string) => {
    const r = await cli('rbd', check(name));
    return r.ok ? normalize(r.out.replaceAll(name, 'X')) : { errno: r.errno };
  };
  const hv = { answer: view(h), after: await after('cmp-h') };
  const cv = { answer: view(c), after: await after('cmp-c') };
  const same = JSON.stringify(hv) === JSON.stringify(cv);
  results.push({ command: `${label} (rbd ${mk('NAME').join(' ')})`, same, ...(same ? {} : { helper: hv, cli: cv }) });
}

/** What twin images may differ in: ids, times, a trashed snapshot's generated name. */
function normalize(text: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    const o = { ...(v as Record<string, unknown>) };
    for (const k of ['id', 'block_name_prefix', 'create_timestamp', 'access_timestamp', 'modify_timestamp', 'timestamp']) delete o[k];
    if ((o.namespace as { type?: string } | undefined)?.type === 'trash') delete o.name;
    for (const k of Object.keys(o)) o[k] = strip(o[k]);
    return o;
  };
  return strip(doc);
}

const J = ['--format', 'json'];
const FEATURES = 'layering,exclusive-lock,object-map,fast-diff,deep-flatten';
// A parent with a user snapshot, a clone of another snapshot that was then removed (kept in the
// trash namespace for the clone), metadata, and an image in the trash.
await must(['create', `${pool}/cmp-parent`, '--size', '8388608B', '--image-feature', FEATURES]);
await must(['snap', 'create', `${pool}/cmp-parent@kept`, '--no-progress']);
await must(['snap', 'create', `${pool}/cmp-parent@gone`, '--no-progress']);
await must(['clone', '--rbd-default-clone-format', '2', `${pool}/cmp-parent@gone`, `${pool}/cmp-clone`, '--image-feature', 'layering,exclusive-lock']);
await must(['snap', 'rm', `${pool}/cmp-parent@gone`, '--no-progress']);
await must(['image-meta', 'set', `${pool}/cmp-clone`, 'poolcsi.io/volume', '{"v":1,"x":"y z"}']);
await must(['create', `${pool}/cmp-trashed`, '--size', '4194304B', '--image-feature', 'layering']);
await must(['trash', 'mv', `${pool}/cmp-trashed`]);
const parentId = parseInfo((await cli('rbd', ['info', `${pool}/cmp-parent`, ...J]) as { out: string }).out).id;
const trashedId = parseTrash((await cli('rbd', ['trash', 'ls', '--long', pool, ...J]) as { out: string }).out).find((t) => t.name === 'cmp-trashed')!.id;

await compareRead(['info', `${pool}/cmp-parent`, ...J], parseInfo);
await compareRead(['info', `${pool}/cmp-clone`, ...J], parseInfo);
await compareRead(['info', '--pool', pool, '--image-id', trashedId, ...J], parseInfo);
await compareRead(['info', `${pool}/cmp-missing`, ...J], parseInfo);
await compareRead(['snap', 'ls', '--all', `${pool}/cmp-parent`, ...J], parseSnaps);
await compareRead(['snap', 'ls', '--all', '--pool', pool, '--image-id', parentId, ...J], parseSnaps);
await compareRead(['image-meta', 'list', `${pool}/cmp-clone`, ...J], parseMeta);
await compareRead(['image-meta', 'list', `${pool}/cmp-parent`, ...J], parseMeta);
await compareRead(['ls', '-l', pool, ...J], parseLs);
await compareRead(['ls', pool], (s) => s.split('\n').filter(Boolean).sort());
await compareRead(['trash', 'ls', '--long', pool, ...J], parseTrash);
await compareRead(['df', ...J], parseDf, 'ceph');
// The clone's parent goes to the trash: its info must say so.
await must(['trash', 'mv', `${pool}/cmp-parent`]);
await compareRead(['info', `${pool}/cmp-clone`, ...J], parseInfo);
await must(['trash', 'restore', '--pool', pool, '--image-id', parentId]);

const INFO = (n: string) => ['info', `${pool}/${n}`, ...J];
await compareChange('create', (n) => ['create', `${pool}/${n}`, '--size', '4194304B', '--image-feature', FEATURES], INFO);
await compareChange('create again (exists)', (n) => ['create', `${pool}/${n}`, '--size', '4194304B', '--image-feature', FEATURES], INFO);
await compareChange('resize', (n) => ['resize', `${pool}/${n}`, '--size', '8388608B', '--no-progress'], INFO);
await compareChange('resize smaller (refused)', (n) => ['resize', `${pool}/${n}`, '--size', '4194304B', '--no-progress'], INFO);
await compareChange('feature disable', (n) => ['feature', 'disable', `${pool}/${n}`, 'fast-diff'], INFO);
await compareChange('image-meta set', (n) => ['image-meta', 'set', `${pool}/${n}`, 'k', '{"a":[1,2]}'], (n) => ['image-meta', 'list', `${pool}/${n}`, ...J]);
await compareChange('image-meta remove', (n) => ['image-meta', 'remove', `${pool}/${n}`, 'k'], (n) => ['image-meta', 'list', `${pool}/${n}`, ...J]);
await compareChange('image-meta remove (absent)', (n) => ['image-meta', 'remove', `${pool}/${n}`, 'k'], (n) => ['image-meta', 'list', `${pool}/${n}`, ...J]);
await compareChange('snap create', (n) => ['snap', 'create', `${pool}/${n}@s`, '--no-progress'], (n) => ['snap', 'ls', '--all', `${pool}/${n}`, ...J]);
await compareChange('rm (has snapshots)', (n) => ['rm', `${pool}/${n}`, '--no-progress'], INFO);
await compareChange('clone', (n) => ['clone', '--rbd-default-clone-format', '2', `${pool}/${n}@s`, `${pool}/${n}-child`, '--image-feature', 'layering'], (n) => ['info', `${pool}/${n}-child`, ...J]);
await compareChange('rm (a snapshot with a linked clone)', (n) => ['rm', `${pool}/${n}`, '--no-progress'], INFO);
await compareChange('snap rm (with a clone: to the trash namespace)', (n) => ['snap', 'rm', `${pool}/${n}@s`, '--no-progress'], (n) => ['snap', 'ls', '--all', `${pool}/${n}`, ...J]);
await compareChange('rm (only a trashed snapshot, with a linked clone)', (n) => ['rm', `${pool}/${n}`, '--no-progress'], INFO);
await compareChange('rm the clone', (n) => ['rm', `${pool}/${n}-child`, '--no-progress'], INFO);
// An image open elsewhere (mapped by krbd): `rm` refuses it, naming the watchers.
const devices: string[] = [];
for (const n of ['cmp-h', 'cmp-c']) {
  const r = await cli('rbd', ['map', `${pool}/${n}`, '-o', 'noudev']);
  if (r.ok) devices.push(r.out.trim());
}
if (devices.length === 2) await compareChange('rm (mapped: watchers)', (n) => ['rm', `${pool}/${n}`, '--no-progress'], INFO);
else results.push({ command: 'rm (mapped: watchers): could not map', same: false });
for (const d of devices) await cli('rbd', ['unmap', '-o', 'noudev', d]);
await compareChange('trash mv', (n) => ['trash', 'mv', `${pool}/${n}`], INFO);
for (const n of ['cmp-h', 'cmp-c']) {
  const id = parseTrash((await cli('rbd', ['trash', 'ls', '--long', pool, ...J]) as { out: string }).out).find((t) => t.name === n)?.id ?? 'none';
  const r = n === 'cmp-h' ? await helper('rbd', ['trash', 'rm', '--pool', pool, '--image-id', id, '--no-progress']) : await cli('rbd', ['trash', 'rm', '--pool', pool, '--image-id', id, '--no-progress']);
  results.push({ command: `trash rm (${n})`, same: r?.ok === true, ...(r?.ok ? {} : { helper: r }) });
}
// Not taken by the helper: runs as `rbd`.
results.push({ command: 'flatten is not taken', same: (await helper('rbd', ['flatten', `${pool}/cmp-clone`, '--no-progress'])) === undefined });

// Leave nothing behind.
await cli('rbd', ['rm', `${pool}/cmp-clone`, '--no-progress']);
await cli('rbd', ['snap', 'purge', `${pool}/cmp-parent`, '--no-progress']);
await cli('rbd', ['rm', `${pool}/cmp-parent`, '--no-progress']);
await cli('rbd', ['trash', 'rm', '--pool', pool, '--image-id', trashedId, '--no-progress']);
console.log(JSON.stringify({ results }));
process.exit(0);
