// The file store of an `iscsi` pool with `backing: {type: file}`: a sparse image file per volume
// in a directory on the storage host, run over the host's Runner (SSH, or this machine).
//   <path>/<pool id>/volumes/<name>/disk.img, state.json
//   <path>/<pool id>/snapshots/<volume>@<snapshot>/disk.img, state.json
// Each object owns one directory; its state file (one line of JSON) is written last, after the
// data, through a temp file and a rename, so an object with a state is complete, and a directory
// without one is what a crash left: hidden from lists, removed by the retry or a delete. A delete
// removes the state first (the object leaves every list), then the directory. Snapshots and
// clones are whole files: reflinks (instant, point in time) or sparse copies.
import { randomUUID } from 'node:crypto';
import { ExecError, type Runner } from '../../exec/index.js';
import { checkCompatible, recordPublish } from '../compat.js';
import { checkGrowLimit, exhausted, exists, notFound, outOfRange, precondition, StorageError } from '../errors.js';
import type { Program } from '../lvm/commands.js';
import type { Capacity, CreateSpec, PublishOptions, SnapshotRecord, VolumeRecord } from '../types.js';
import {
  copyCmd, dfCmd, growCmd, listStatesCmd, mkdirCmd, parseDf, parseObject, parseStates, readObjectCmd, removeCmd, renameCmd, sizeCmd,
  writeTempCmd, type ObjectView,
} from './commands.js';

export interface FileBacking { id: string; path: string; snapshots: 'reflink' | 'copy' }

interface VolumeState extends VolumeRecord { uid: string }
interface SnapshotState extends SnapshotRecord { volumeUid: string }

/** A copy of a volume can take minutes; the control programs take milliseconds. */
const COPY_TIMEOUT_MS = 60 * 60_000;

export class FileStore {
  private layout?: Promise<void>;
  private readonly root: string;

  constructor(private readonly backing: FileBacking, private readonly runner: Runner) {
    this.root = `${backing.path}/${backing.id}`;
  }

  private volHome(name: string) { return `${this.root}/volumes/${name}`; }
  private snapHome(vol: string, snap: string) { return `${this.root}/snapshots/${vol}@${snap}`; }
  /** The image LIO's fileio object opens. */
  imageOf(name: string): string { return `${this.volHome(name)}/disk.img`; }

  private async run(p: Program, doing: string, opts: { okCodes?: number[]; input?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
    try {
      return await this.runner.run(p.program, p.args, opts);
    } catch (e) {
      if (!(e instanceof ExecError)) throw e;
      const detail = e.stderr.trim().split('\n').slice(-2).join(' | ') || e.message;
      const where = `${doing} on ${this.runner.host}: ${detail}`;
      if (e.reason !== 'exit') throw new StorageError('unavailable', where, { cause: e });
      if (e.mentions('No space left on device')) throw new StorageError('exhausted', where, { cause: e });
      if (p.program === 'cp' && e.mentions('Operation not supported', 'Invalid cross-device link')) {
        throw precondition(`${where} (the filesystem of ${this.backing.path} cannot reflink: use XFS with reflink=1 or btrfs, or backing.snapshots: copy)`);
      }
      throw new StorageError('internal', where, { cause: e });
    }
  }

  /** The pool's directories, made once per process. The backing path itself must exist: made
   * here, it could hide a filesystem that failed to mount under it. */
  private ensureLayout(): Promise<void> {
    this.layout ??= (async () => {
      // One mkdir for the three (in order: each exists before its children are made).
      const c = mkdirCmd(this.root, `${this.root}/volumes`, `${this.root}/snapshots`);
      try {
        await this.runner.run(c.program, c.args);
      } catch (e) {
        const refusals = e instanceof ExecError && e.reason === 'exit' ? e.stderr.split('\n').map((l) => l.trim()).filter(Boolean) : [];
        if (refusals.length && refusals.every((l) => l.endsWith('File exists'))) return;
        throw new StorageError('unavailable', refusals.some((l) => l.endsWith('No such file or directory'))
          ? `backing path ${this.backing.path} does not exist on ${this.runner.host}`
          : `preparing ${this.root} on ${this.runner.host}: ${(e as Error).message}`, { cause: e });
      }
    })().catch((e) => { this.layout = undefined; throw e; });
    return this.layout;
  }

  private async read(home: string): Promise<ObjectView> {
    const r = await this.run(readObjectCmd(home), `reading ${home}`, { okCodes: [0, 1] });
    try {
      return parseObject(home, r.stdout, r.stderr);
    } catch (e) {
      throw new StorageError('internal', `reading ${home} on ${this.runner.host}: ${(e as Error).message}`);
    }
  }

  private parse<T>(home: string, text: string): T {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new StorageError('internal', `${home}/state.json on ${this.runner.host} is not valid JSON; inspect or remove it by hand`);
    }
  }

  private async volumeState(name: string): Promise<VolumeState | undefined> {
    const o = await this.read(this.volHome(name));
    return o.state ? this.parse<VolumeState>(this.volHome(name), o.state) : undefined;
  }

  private async writeState(home: string, state: object): Promise<void> {
    await this.run(writeTempCmd(`${home}/state.json`), `writing the state of ${home}`, { input: `${JSON.stringify(state)}\n` });
    await this.run(renameCmd(`${home}/state.json.tmp`, `${home}/state.json`), `recording the state of ${home}`);
  }

  /** A fresh directory for an object: a leftover of a crashed create (data, no state) goes first. */
  private async freshHome(home: string, leftover: boolean): Promise<void> {
    if (leftover) await this.run(removeCmd([home]), `removing the remains of an earlier attempt at ${home}`);
    await this.run(mkdirCmd(home), `creating ${home}`);
  }

  /** A volume's copy is torn when the volume is written meanwhile: only reflinks are taken of one in use. */
  private checkCopyable(vol: VolumeState, what: string): void {
    const nodes = Object.keys(vol.published ?? {});
    if (this.backing.snapshots === 'copy' && nodes.length) {
      throw precondition(`${what}: volume ${vol.name} is published to ${nodes.join(', ')}, and a copy of a disk in use is not point in time (backing.snapshots: copy); unpublish it first, or use reflink`);
    }
  }

  async createVolume(spec: CreateSpec): Promise<VolumeRecord> {
    await this.ensureLayout();
    const home = this.volHome(spec.name);
    const o = await this.read(home);
    if (o.state) {
      const existing = this.parse<VolumeState>(home, o.state);
      checkCompatible(existing, spec);
      return existing;
    }
    let from: string | undefined;
    let fromSize = 0;
    if (spec.source?.kind === 'snapshot') {
      const snap = await this.getSnapshot(spec.source.volume, spec.source.snapshot);
      if (!snap) throw notFound(`source snapshot ${spec.source.volume}@${spec.source.snapshot} does not exist in pool "${this.backing.id}"`);
      from = `${this.snapHome(snap.volume, snap.name)}/disk.img`;
      fromSize = snap.sizeBytes;
    } else if (spec.source?.kind === 'volume') {
      const vol = await this.volumeState(spec.source.volume);
      if (!vol) throw notFound(`source volume ${spec.source.volume} does not exist in pool "${this.backing.id}"`);
      this.checkCopyable(vol, `cloning ${vol.name}`);
      from = this.imageOf(vol.name);
      fromSize = vol.sizeBytes;
    }
    if (from && spec.sizeBytes < fromSize) throw outOfRange(`the source holds ${fromSize} bytes; a volume made from it needs at least that`);
    const cap = await this.capacity();
    if (spec.sizeBytes > cap.availableBytes) {
      throw exhausted(`pool "${this.backing.id}" has ${cap.availableBytes} bytes free in ${this.backing.path} on ${this.runner.host}; ${spec.sizeBytes} requested`);
    }
    await this.freshHome(home, o.home);
    const image = this.imageOf(spec.name);
    if (from) {
      await this.run(copyCmd(from, image, this.backing.snapshots), `copying ${from} to ${image}`, { timeoutMs: COPY_TIMEOUT_MS });
      if (spec.sizeBytes > fromSize) await this.run(growCmd(image, spec.sizeBytes), `growing ${image}`);
    } else {
      await this.run(sizeCmd(image, spec.sizeBytes), `creating ${image}`);
    }
    const state: VolumeState = {
      name: spec.name, requestName: spec.requestName, sizeBytes: spec.sizeBytes, mode: spec.mode, params: { ...spec.params },
      complete: true, createdAt: new Date().toISOString(), uid: randomUUID(),
      ...(spec.source ? { source: spec.source } : {}),
      ...(spec.pvc ? { pvc: spec.pvc } : {}),
    };
    await this.writeState(home, state);
    return state;
  }

  /** The state goes first (the object leaves every list), then the directory, in one rm (which
   * removes nothing, successfully, when neither is there). */
  private async remove(home: string, what: string): Promise<void> {
    await this.run(removeCmd([`${home}/state.json`, home]), `removing ${what}`);
  }

  async deleteVolume(name: string): Promise<void> {
    await this.remove(this.volHome(name), `volume ${name}`);
  }

  async getVolume(name: string): Promise<VolumeRecord | undefined> {
    return this.volumeState(name);
  }

  /** Any volume directory: a complete volume's record, or an incomplete one for a crash's leftover. */
  async volumeAny(name: string): Promise<VolumeRecord | undefined> {
    const o = await this.read(this.volHome(name));
    if (o.state) return this.parse<VolumeState>(this.volHome(name), o.state);
    return o.home ? { name, requestName: '', sizeBytes: 0, mode: 'block', params: {}, complete: false } : undefined;
  }

  private async all<T>(area: 'volumes' | 'snapshots'): Promise<T[]> {
    await this.ensureLayout();
    const r = await this.run(listStatesCmd([`${this.root}/${area}`]), `listing ${this.root}/${area}`, { okCodes: [0, 1] });
    return [...parseStates(r.stdout)].map(([home, text]) => this.parse<T>(home, text));
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return this.all<VolumeState>('volumes');
  }

  async expandVolume(name: string, sizeBytes: number, limitBytes: number): Promise<VolumeRecord | undefined> {
    const state = await this.volumeState(name);
    if (!state) return undefined;
    if (sizeBytes <= state.sizeBytes) return state;
    checkGrowLimit(name, sizeBytes, limitBytes);
    const cap = await this.capacity();
    if (sizeBytes - state.sizeBytes > cap.availableBytes) {
      throw exhausted(`pool "${this.backing.id}" has ${cap.availableBytes} bytes free; growing ${name} to ${sizeBytes} needs more`);
    }
    await this.run(growCmd(this.imageOf(name), sizeBytes), `growing ${this.imageOf(name)}`);
    state.sizeBytes = sizeBytes;
    await this.writeState(this.volHome(name), state);
    return state;
  }

  async createSnapshot(volume: string, name: string, requestName: string): Promise<SnapshotRecord> {
    await this.ensureLayout();
    const home = this.snapHome(volume, name);
    const o = await this.read(home);
    const vol = await this.volumeState(volume);
    if (!vol) throw notFound(`source volume ${volume} does not exist in pool "${this.backing.id}"`);
    if (o.state) {
      const existing = this.parse<SnapshotState>(home, o.state);
      // A snapshot of an earlier volume of the same name (deleted, then re-created) is not this one's.
      if (existing.volumeUid !== vol.uid) throw exists(`snapshot ${volume}@${name} already exists and was taken of an earlier volume named ${volume}`);
      return publicSnapshot(existing);
    }
    this.checkCopyable(vol, `snapshotting ${volume}`);
    await this.freshHome(home, o.home);
    await this.run(copyCmd(this.imageOf(volume), `${home}/disk.img`, this.backing.snapshots), `copying ${this.imageOf(volume)} to ${home}`, { timeoutMs: COPY_TIMEOUT_MS });
    const snap: SnapshotState = { volume, name, requestName, sizeBytes: vol.sizeBytes, createdAt: new Date().toISOString(), ready: true, volumeUid: vol.uid };
    await this.writeState(home, snap);
    return publicSnapshot(snap);
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    await this.remove(this.snapHome(volume, name), `snapshot ${volume}@${name}`);
  }

  async getSnapshot(volume: string, name: string): Promise<SnapshotRecord | undefined> {
    const home = this.snapHome(volume, name);
    const o = await this.read(home);
    return o.state ? publicSnapshot(this.parse<SnapshotState>(home, o.state)) : undefined;
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return (await this.all<SnapshotState>('snapshots')).map(publicSnapshot);
  }

  async capacity(): Promise<Capacity> {
    const r = await this.run(dfCmd(this.backing.path), `reading the free space of ${this.backing.path}`);
    try {
      return { ...parseDf(r.stdout), notes: ['images are sparse: a create is checked against the free space, but writes to existing volumes can still fill the filesystem'] };
    } catch (e) {
      throw new StorageError('internal', `${(e as Error).message} on ${this.runner.host}`);
    }
  }

  async publish(name: string, node: string, opts: PublishOptions): Promise<void> {
    const state = await this.volumeState(name);
    if (!state) throw notFound(`volume ${name} does not exist in pool "${this.backing.id}"`);
    const before = state.published?.[node];
    recordPublish(state, node, opts);
    if (!before) await this.writeState(this.volHome(name), state);
  }

  async unpublish(name: string, node?: string): Promise<void> {
    const state = await this.volumeState(name);
    if (!state?.published) return;
    const nodes = node === undefined ? Object.keys(state.published) : [node].filter((n) => state.published![n]);
    if (!nodes.length) return;
    for (const n of nodes) delete state.published[n];
    await this.writeState(this.volHome(name), state);
  }
}

function publicSnapshot(s: SnapshotState): SnapshotRecord {
  return { volume: s.volume, name: s.name, requestName: s.requestName, sizeBytes: s.sizeBytes, createdAt: s.createdAt, ready: s.ready };
}
