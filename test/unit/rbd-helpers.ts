// Helpers for the rbd unit tests: recorded fixtures, a pool, and FakeRbd, a Runner that plays
// a small in-memory Ceph pool through the same argv the backend gives the real rbd/ceph. It
// also checks every run the way the lab cannot: the key is never in argv, the key file holds
// it with mode 0600 while the program runs.
import { readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ExecError } from '../../src/exec/errors.js';
import type { Runner, RunOptions, RunResult } from '../../src/exec/index.js';
import type { RbdPool } from '../../src/pools/schema.js';
import { validatePools } from '../../src/pools/validate.js';
import { createLogger, setLogger } from '../../src/observe/log.js';

setLogger(createLogger({ level: 'silent' }));

export const FIXTURES = new URL('../../../test/fixtures/rbd/', import.meta.url);
export const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

/** A sysfs root under `dir` holding the rbd devices of `sysfs-devices.txt` (`grep -H '' ...`
 * of their attributes, recorded in a lab node with three mappings) and `extra` files. */
export async function recordedRbdSysfs(dir: string, extra: Record<string, string> = {}): Promise<string> {
  const files: Record<string, string> = { ...extra };
  for (const line of fixture('sysfs-devices.txt').split('\n').filter(Boolean)) {
    const i = line.indexOf(':');
    files[line.slice('/sys/'.length, i)] = `${line.slice(i + 1)}\n`;
  }
  for (const [path, value] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), value);
  }
  return dir;
}

export const KEY = 'AQApNgFrG+oRKBAAy/Gj/uYgdmmXKhnCvYmOkw==';
export const CALL = { secrets: { userID: 'admin', userKey: KEY } };

export function rbdPool(extra: Record<string, unknown> = {}): RbdPool {
  return validatePools({ pools: [{ id: 'ceph', type: 'rbd', monhost: ['10.0.0.1'], pool: 'kube', ...extra }] }).pools[0] as RbdPool;
}

interface Snap { id: number; name: string; size: number; ns: 'user' | 'trash'; children: number }
interface Image {
  id: string; name: string; size: number; features: string[]; meta: Map<string, string>; snaps: Snap[];
  parent?: { id: string; snap: number }; trashed: boolean;
}

const TS = 'Sat Nov 21 06:08:18 2026';

/** An in-memory rbd pool "kube" behind the rbd/ceph command lines poolcsi uses. */
export class FakeRbd implements Runner {
  readonly host = 'fake';
  readonly runs: Array<{ program: string; args: string[] }> = [];
  readonly images = new Map<string, Image>(); // by id
  private seq = 0;
  /** Set to make every cluster call fail like this (e.g. a wrong key). */
  failWith?: ExecError;

  byName(name: string): Image | undefined { return [...this.images.values()].find((i) => i.name === name && !i.trashed); }
  get trash(): Image[] { return [...this.images.values()].filter((i) => i.trashed); }

  async run(program: string, args: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    const argv = [...args];
    this.runs.push({ program, args: argv });
    if (argv.some((a) => a.includes(KEY))) throw new Error(`the key is in argv: ${program} ${argv.join(' ')}`);
    const rest = this.checkConnection(program, argv);
    if (this.failWith && !(rest[0] === 'device')) throw this.failWith;
    const out = program === 'ceph' ? this.ceph(rest) : this.rbd(rest);
    return { stdout: out, stderr: '', exitCode: 0, durationMs: 1 };
  }

  private checkConnection(program: string, argv: string[]): string[] {
    assertEq(argv[0], '--conf', 'first argument');
    assertEq(argv[1], '/dev/null', 'no ceph.conf');
    if (argv[2] !== '-m') return argv.slice(2); // local: device list, unmap
    const keyfile = argv[argv.indexOf('--keyfile') + 1]!;
    assertEq(readFileSync(keyfile, 'utf8'), KEY, 'key file content');
    assertEq(statSync(keyfile).mode & 0o777, 0o600, 'key file mode');
    const rest = argv.slice(argv.indexOf('--rados-osd-op-timeout') + 2);
    return program === 'ceph' ? rest.slice(2) : rest;
  }

  private fail(code: number, stderr: string): never { throw new ExecError('rbd', [], code, `${stderr}\n`, '', 'exit'); }

  private image(spec: string): Image {
    const name = spec.replace(/^kube\//, '').split('@')[0]!;
    return this.byName(name) ?? this.fail(2, `rbd: error opening image ${name}: (2) No such file or directory`);
  }

  private byId(argv: string[]): Image | undefined {
    const i = argv.indexOf('--image-id');
    return i >= 0 ? this.images.get(argv[i + 1]!) : undefined;
  }

  private info(img: Image): object {
    const p = img.parent && this.images.get(img.parent.id);
    const ps = p?.snaps.find((s) => s.id === img.parent!.snap);
    return {
      name: img.name, id: img.id, size: img.size, snapshot_count: img.snaps.length, features: img.features, op_features: [],
      ...(p && ps ? { parent: { pool: 'kube', pool_namespace: '', image: p.name, id: p.id, snapshot: ps.name, trash: p.trashed, overlap: img.size } } : {}),
    };
  }

  private detach(img: Image): void {
    if (!img.parent) return;
    const p = this.images.get(img.parent.id)!;
    const s = p.snaps.find((x) => x.id === img.parent!.snap)!;
    s.children--;
    // clone v2: a trashed snapshot goes with its last child
    if (s.children === 0 && s.ns === 'trash') p.snaps = p.snaps.filter((x) => x !== s);
    delete img.parent;
  }

  private rbd(a: string[]): string {
    const [cmd, sub] = a;
    const json = (v: unknown) => JSON.stringify(v);
    if (cmd === 'info') return json(this.info(this.byId(a) ?? this.image(a[1]!)));
    if (cmd === 'image-meta') {
      const img = this.image(a[2]!);
      if (sub === 'list') return img.meta.size ? json(Object.fromEntries(img.meta)) : '';
      if (sub === 'set') { img.meta.set(a[3]!, a[4]!); return ''; }
      if (sub === 'remove') { if (!img.meta.delete(a[3]!)) this.fail(2, 'failed to remove metadata'); return ''; }
    }
    if (cmd === 'create' || cmd === 'clone') {
      const dst = (cmd === 'create' ? a[1]! : a[4]!).replace(/^kube\//, '');
      if (this.byName(dst)) this.fail(17, `rbd: create error: (17) File exists`);
      const features = a[a.indexOf('--image-feature') + 1]!.split(',');
      const img: Image = { id: `id${++this.seq}`, name: dst, size: 0, features, meta: new Map(), snaps: [], trashed: false };
      if (cmd === 'create') img.size = Number(a[a.indexOf('--size') + 1]!.replace(/B$/, ''));
      else {
        const [pName, sName] = a[3]!.replace(/^kube\//, '').split('@');
        const p = this.image(pName!);
        const s = p.snaps.find((x) => x.name === sName && x.ns === 'user') ?? this.fail(2, 'rbd: error opening snapshot');
        s.children++;
        img.size = s.size;
        img.parent = { id: p.id, snap: s.id };
        // librbd's CloneRequest copies the parent's image metadata to the child (seen in the
        // lab: a clone cut short before its state carried its parent's, reliability lane rbd).
        img.meta = new Map(p.meta);
      }
      this.images.set(img.id, img);
      return '';
    }
    if (cmd === 'resize') { this.image(a[1]!).size = Number(a[a.indexOf('--size') + 1]!.replace(/B$/, '')); return ''; }
    if (cmd === 'flatten') { this.detach(this.image(a[1]!)); return ''; }
    if (cmd === 'snap') {
      if (sub === 'ls') {
        const img = this.byId(a) ?? this.image(a[3]!);
        return json(img.snaps.map((s) => ({ id: s.id, name: s.name, size: s.size, timestamp: TS, namespace: { type: s.ns } })));
      }
      const [name, snap] = a[2]!.replace(/^kube\//, '').split('@');
      const img = this.image(name!);
      const s = img.snaps.find((x) => x.name === snap && x.ns === 'user');
      if (sub === 'create') {
        if (s) this.fail(17, 'rbd: failed to create snapshot: (17) File exists');
        img.snaps.push({ id: ++this.seq, name: snap!, size: img.size, ns: 'user', children: 0 });
        return '';
      }
      if (sub === 'rm') {
        if (!s) this.fail(2, 'rbd: failed to remove snapshot: (2) No such file or directory');
        if (s.children) { s.ns = 'trash'; s.name = `trash-${s.id}`; } else img.snaps = img.snaps.filter((x) => x !== s);
        return '';
      }
    }
    if (cmd === 'rm') {
      const img = this.byName(a[1]!.replace(/^kube\//, '')) ?? this.fail(2, 'rbd: error opening image: (2) No such file or directory');
      if (img.snaps.some((s) => s.ns === 'trash')) this.fail(39, 'rbd: image has snapshots with linked clones - these must be deleted or flattened before the image can be removed.');
      if (img.snaps.length) this.fail(39, "rbd: image has snapshots - these must be deleted with 'rbd snap purge' before the image can be removed.");
      this.detach(img);
      this.images.delete(img.id);
      return '';
    }
    if (cmd === 'trash') {
      if (sub === 'mv') { this.image(a[2]!).trashed = true; return ''; }
      if (sub === 'ls') return json(this.trash.map((i) => ({ id: i.id, name: i.name, source: 'USER', status: `expired at ${TS}` })));
      if (sub === 'rm') {
        const img = this.byId(a) ?? this.fail(2, 'rbd: error: image not in trash');
        if (img.snaps.length) this.fail(39, "rbd: image has snapshots - these must be deleted with 'rbd snap purge' before the image can be removed.");
        this.detach(img);
        this.images.delete(img.id);
        return '';
      }
    }
    if (cmd === 'ls') {
      const live = [...this.images.values()].filter((i) => !i.trashed).sort((x, y) => (x.name < y.name ? -1 : 1));
      return json(live.flatMap((i) => [
        { image: i.name, id: i.id, size: i.size, format: 2, ...(i.parent ? { parent: { pool: 'kube', image: this.images.get(i.parent.id)!.name, snapshot: 'x' } } : {}) },
        ...i.snaps.filter((s) => s.ns === 'user').map((s) => ({ image: i.name, id: i.id, snapshot: s.name, snapshot_id: s.id, size: s.size, format: 2 })),
      ]));
    }
    throw new Error(`FakeRbd: unhandled rbd ${a.join(' ')}`);
  }

  private ceph(a: string[]): string {
    if (a[0] === 'df') return fixture('ceph-df.json').replace('"name":"rbd"', '"name":"kube"');
    throw new Error(`FakeRbd: unhandled ceph ${a.join(' ')}`);
  }

  /** The rbd subcommands run so far (connection arguments dropped), e.g. "create", "image-meta set". */
  commands(): string[] {
    return this.runs.map((r) => {
      const i = r.args.indexOf('--rados-osd-op-timeout');
      const rest = i >= 0 ? r.args.slice(i + 2) : r.args.slice(2);
      const words = rest.filter((w) => !w.startsWith('-') && !w.includes('/'));
      return `${r.program} ${words.slice(0, ['image-meta', 'snap', 'trash', 'device'].includes(words[0]!) ? 2 : 1).join(' ')}`;
    });
  }
}

function assertEq(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`FakeRbd: ${what}: expected ${String(expected)}, got ${String(actual)}`);
}
