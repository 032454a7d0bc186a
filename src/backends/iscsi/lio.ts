// LIO objects of one volume on the storage host: a storage object on the volume's device (iblock)
// or image file (fileio), a target of its own with it as LUN 0, and an ACL per node it is published to. A target per
// volume keeps access control per volume (an ACL maps every LUN of its TPG) and lets a node's
// session end with the volume's unstage. Every step is idempotent (an object already there, or
// already gone, is what a retry after a crash expects); configfs is changed directly
// (configfs.ts) and each change ends with a save that started after it.
import { ExecError, type Runner } from '../../exec/index.js';
import type { Chap } from '../../node/transports/iscsi-chap.js';
import { StorageError } from '../errors.js';
import type { Program } from '../lvm/commands.js';
import {
  aclDir, hbaDir, hbaFor, preferredHba, linkCmd, PLUGINS, listCoreCmd, listLinksCmd, listTpgCmd, lunDir, mkdirCmd, npDir, onlyExisting,
  onlyMissing, onlyMissingOrSharedHba, parseCore, parseRead, parseTpg, readCmd, rmdirCmd, saveCmd, savedMentionsCmd, targetDir, tpgDir,
  unlinkAllCmd, writeCmd, LOCK_WAIT_SECONDS, SAVED_CONFIG,
} from './configfs.js';

const STEP_TIMEOUT_MS = 60_000;
const SAVE_TIMEOUT_MS = (LOCK_WAIT_SECONDS + 120) * 1000;

export interface LunRef { target: string; backstore: string; lun: number; serial: string }

/** What a LUN's storage object is made on: a block device (LV, zvol) or an image file, whose
 * size fileio takes from what it is told (it reads only a block device's size itself). */
export type Backing = { plugin: 'iblock'; device: string } | { plugin: 'fileio'; file: string; sizeBytes: number };

interface Step { okCodes?: number[]; input?: string; tolerate?: (stderr: string) => boolean; timeoutMs?: number }

/**
 * Changes and saves of one host: changes (each to its own volume's objects) run side by side,
 * a save runs alone. rtslib's save reads every object in configfs and fails on one another
 * change has half made ("invalid literal for int() with base 10: ''", most likely a mapped
 * LUN not linked yet), as two concurrent publishes showed. A waiting save goes before changes that arrive after it.
 */
export class HostGate {
  private changes = 0;
  private saving = false;
  private readonly waiting: Array<{ save: boolean; go: () => void }> = [];

  async change<T>(fn: () => Promise<T>): Promise<T> {
    await this.enter(false);
    try { return await fn(); } finally { this.changes--; this.pump(); }
  }

  async save<T>(fn: () => Promise<T>): Promise<T> {
    await this.enter(true);
    try { return await fn(); } finally { this.saving = false; this.pump(); }
  }

  private enter(save: boolean): Promise<void> {
    return new Promise((go) => { this.waiting.push({ save, go }); this.pump(); });
  }

  private pump(): void {
    while (this.waiting.length > 0 && !this.saving) {
      const next = this.waiting[0]!;
      if (next.save && this.changes > 0) return;
      this.waiting.shift();
      if (next.save) this.saving = true;
      else this.changes++;
      next.go();
    }
  }
}

/** One save at a time per host, and a change waits for a save that started after it: changes
 * made while a save runs share the next one (group commit), so N concurrent calls cost 2 saves. */
export class Saver {
  private current?: Promise<void>;
  private queued?: Promise<void>;
  constructor(private readonly saveNow: () => Promise<void>) {}

  save(): Promise<void> {
    if (this.queued) return this.queued;
    const before = this.current ?? Promise.resolve();
    const next: Promise<void> = before.catch(() => undefined).then(() => {
      this.queued = undefined;
      this.current = next;
      return this.saveNow();
    }).finally(() => {
      if (this.current === next) this.current = undefined;
    });
    this.queued = next;
    return next;
  }
}

const hosts = new Map<string, { gate: HostGate; saver: Saver }>();

export class Lio {
  private readonly saver: Saver;
  private readonly gate: HostGate;

  /** `ports`: the portals' ports; the target listens on each, on every address. `chap`: every
   * target requires CHAP (its ACLs get credentials in allow). */
  constructor(private readonly runner: Runner, private readonly ports: readonly number[], private readonly chap = false) {
    let h = hosts.get(runner.host);
    if (!h) {
      const gate = new HostGate();
      const saver = new Saver(() => gate.save(async () => {
        await this.step(saveCmd(), 'saving the LIO configuration (targetctl save)', { timeoutMs: SAVE_TIMEOUT_MS });
      }));
      h = { gate, saver };
      hosts.set(runner.host, h);
    }
    this.gate = h.gate;
    this.saver = h.saver;
  }

  private async step(p: Program, doing: string, o: Step = {}): Promise<string> {
    try {
      const r = await this.runner.run(p.program, p.args, {
        timeoutMs: o.timeoutMs ?? STEP_TIMEOUT_MS, okCodes: o.okCodes ?? [0], ...(o.input !== undefined ? { input: o.input } : {}),
      });
      return r.stdout;
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit' && o.tolerate?.(e.stderr)) return e.stdout;
      const detail = e instanceof ExecError ? (e.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || e.message) : (e as Error).message;
      const kind = e instanceof ExecError && (e.reason === 'timeout' || e.reason === 'spawn') ? 'unavailable' : 'internal';
      throw new StorageError(kind, `${doing} on ${this.runner.host}: ${detail}`, { cause: e });
    }
  }

  /** A change to this host's LIO objects, answered once a save that started after it is done.
   * `fn` answers false when it found nothing to change: no save then (a save is seconds of
   * Python on a slow host). */
  private async changed(fn: () => Promise<void | boolean>): Promise<void> {
    if ((await this.gate.change(fn)) === false) return;
    await this.saver.save();
  }

  /** Whether the saved configuration may name any of `names` (an unreadable file may). */
  private async savedMentions(names: string[]): Promise<boolean> {
    const count = await this.step(savedMentionsCmd(names), `reading ${SAVED_CONFIG}`, { okCodes: [0, 1, 2] });
    return count.trim() !== '0';
  }

  private write(file: string, value: string, doing: string): Promise<string> {
    // No newline: LIO keeps it in CHAP names and secrets (a user "u1\n" never matches).
    return this.step(writeCmd(file), doing, { input: value });
  }

  private async read(files: string[]): Promise<Map<string, string>> {
    return parseRead(await this.step(readCmd(files), 'reading LIO attributes', { okCodes: [0, 1, 2] }));
  }

  /** A first publish: the storage object, target, LUN and portals (each kept when already
   * there) and the node's ACL, in one change, so one save. */
  async exportAndAllow(ref: LunRef, backing: Backing, initiator: string, readonly: boolean, chap?: Chap): Promise<void> {
    await this.changed(async () => {
      await this.exportSteps(ref, backing);
      await this.allowSteps(ref, initiator, readonly, chap);
    });
  }

  private async exportSteps(ref: LunRef, backing: Backing): Promise<void> {
    const core = parseCore(await this.step(listCoreCmd(), 'listing LIO storage objects'));
    const so = core.objects.get(ref.backstore) ?? `${hbaDir(hbaFor(core, ref.backstore, backing.plugin), backing.plugin)}/${ref.backstore}`;
    const path = backing.plugin === 'iblock' ? backing.device : backing.file;
    const tpg = tpgDir(ref.target);
    const lun = lunDir(ref.target, ref.lun);
    await this.step(mkdirCmd([so, lun, ...this.ports.map((p) => npDir(ref.target, p))]), `creating LIO objects of ${ref.target}`);
    const state = await this.read([`${so}/enable`, `${tpg}/enable`]);
    if (state.get(`${so}/enable`) !== '1') {
      // The serial (a SCSI id that multipath and /dev/disk/by-id rely on) can only be set
      // before the object is enabled; it is derived from the volume, so it survives a restore.
      // fileio: buffered, which makes LIO announce a write cache and honour the initiator's
      // flushes (targetcli's default); the path has no "," (the pool schema), LIO's separator.
      const control = backing.plugin === 'iblock' ? `udev_path=${path}` : `fd_dev_name=${path},fd_dev_size=${backing.sizeBytes},fd_buffered_io=1`;
      await this.write(`${so}/control`, control, `pointing ${ref.backstore} at ${path}`);
      await this.write(`${so}/udev_path`, path, `recording ${path} for ${ref.backstore}`);
      await this.write(`${so}/wwn/vpd_unit_serial`, ref.serial, `setting the unit serial of ${ref.backstore}`);
      await this.write(`${so}/enable`, '1', `enabling ${ref.backstore}`);
    }
    await this.step(linkCmd(so, `${lun}/${ref.backstore}`), `mapping ${ref.backstore} as LUN ${ref.lun} of ${ref.target}`, { tolerate: onlyExisting });
    if (state.get(`${tpg}/enable`) !== '1') {
      await this.write(`${tpg}/attrib/authentication`, this.chap ? '1' : '0', `setting the authentication of ${ref.target}`);
      await this.write(`${tpg}/enable`, '1', `enabling ${ref.target}`);
    }
  }

  /** Whether the target is complete (enabled is its last step). */
  async exported(ref: LunRef): Promise<boolean> {
    const tpg = tpgDir(ref.target);
    const links = await this.step(listLinksCmd(lunDir(ref.target, ref.lun)), `reading LUN ${ref.lun} of ${ref.target}`, { tolerate: onlyMissing });
    return links.trim() !== '' && (await this.read([`${tpg}/enable`])).get(`${tpg}/enable`) === '1';
  }

  /** Tells a fileio object its file's new size (a block device's size LIO reads itself): the
   * initiators see it at their next rescan, and the save keeps it for a restore. Nothing to do
   * when the volume is not exported. */
  async resize(ref: LunRef, sizeBytes: number): Promise<void> {
    await this.changed(async (): Promise<boolean> => {
      const so = parseCore(await this.step(listCoreCmd(), 'listing LIO storage objects')).objects.get(ref.backstore);
      if (!so || !/\/fileio_\d+\//.test(so)) return false;
      await this.write(`${so}/control`, `fd_dev_size=${sizeBytes}`, `growing ${ref.backstore} to ${sizeBytes} bytes`);
      return true;
    });
  }

  /** The target (with its LUN, portals and ACLs) and the storage object; nothing there is fine. */
  async unexport(ref: LunRef): Promise<void> {
    await this.changed(async (): Promise<boolean> => {
      // A tolerated refusal means no TPG: mkdir -p makes it with the storage object, and a
      // host restart restores the last save, made before any unexport began.
      let noTarget = false;
      const tpg = parseTpg(ref.target, await this.step(listTpgCmd(ref.target), `listing ${ref.target}`, { tolerate: (e) => (noTarget = onlyMissing(e)) }));
      const core = parseCore(await this.step(listCoreCmd(), 'listing LIO storage objects'));
      const so = core.objects.get(ref.backstore);
      // An empty HBA at the object's own index: an export that died between the two mkdirs.
      const hba = preferredHba(ref.backstore);
      const leftover = PLUGINS.filter((p) => core.hbas.has(`${p}_${hba}`) && !core.occupied.has(`${p}_${hba}`)).map((p) => hbaDir(hba, p));
      // Never exported, or a retry after an unexport: nothing to remove; a save only when the
      // saved file still holds the target (a crash came between the removal and its save).
      if (noTarget && !so && leftover.length === 0) return (await this.savedMentions([ref.target, ref.backstore]));
      await this.step(unlinkAllCmd(targetDir(ref.target)), `unmapping the LUNs of ${ref.target}`, { tolerate: onlyMissing });
      const dirs = [
        ...[...tpg.acls.values()].flat(), ...[...tpg.acls.keys()].map((a) => aclDir(ref.target, a)),
        ...tpg.luns, ...tpg.portals, tpgDir(ref.target), targetDir(ref.target),
        ...(so ? [so, so.slice(0, so.lastIndexOf('/'))] : []), ...leftover,
      ];
      await this.step(rmdirCmd(dirs), `removing ${ref.target} and ${ref.backstore}`, { tolerate: onlyMissingOrSharedHba });
      return true;
    });
  }

  /** Maps the LUN for `initiator` (read-only when asked) with its CHAP credentials, then saved. */
  async allow(ref: LunRef, initiator: string, readonly: boolean, chap?: Chap): Promise<void> {
    await this.changed(() => this.allowSteps(ref, initiator, readonly, chap));
  }

  private async allowSteps(ref: LunRef, initiator: string, readonly: boolean, chap?: Chap): Promise<void> {
    const acl = aclDir(ref.target, initiator);
    const mapped = `${acl}/lun_${ref.lun}`;
    await this.step(mkdirCmd([mapped]), `adding ${initiator} to ${ref.target}`);
    if (chap) {
      // Before the LUN is mapped, so no login without them reaches it.
      const auth = `${acl}/auth`;
      await this.write(`${auth}/userid`, chap.user, `setting the CHAP user of ${initiator} on ${ref.target}`);
      await this.write(`${auth}/password`, chap.password, `setting the CHAP secret of ${initiator} on ${ref.target}`);
      // LIO reads "NULL" as unset: mutual CHAP is off unless both are set.
      await this.write(`${auth}/userid_mutual`, chap.mutual?.user ?? 'NULL', `setting the mutual CHAP user of ${initiator} on ${ref.target}`);
      await this.write(`${auth}/password_mutual`, chap.mutual?.password ?? 'NULL', `setting the mutual CHAP secret of ${initiator} on ${ref.target}`);
    }
    const links = await this.step(listLinksCmd(mapped), `reading ${initiator}'s LUN ${ref.lun} of ${ref.target}`);
    if (links.trim() === '') await this.step(linkCmd(lunDir(ref.target, ref.lun), `${mapped}/lun`), `mapping LUN ${ref.lun} of ${ref.target} for ${initiator}`);
    // The kernel keeps write_protect on the mapping the link made (written before, it is lost).
    // No session of this initiator reads the LUN before the publish answers.
    await this.write(`${mapped}/write_protect`, readonly ? '1' : '0', `setting write protection of ${initiator} on ${ref.target}`);
  }

  async deny(ref: LunRef, initiator: string): Promise<void> {
    await this.changed(async () => {
      const acl = aclDir(ref.target, initiator);
      await this.step(unlinkAllCmd(acl), `unmapping ${ref.target} for ${initiator}`, { tolerate: onlyMissing });
      await this.step(rmdirCmd([`${acl}/lun_${ref.lun}`, acl]), `removing ${initiator} from ${ref.target}`, { tolerate: onlyMissing });
    });
  }
}
