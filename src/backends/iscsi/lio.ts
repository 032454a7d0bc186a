// LIO objects of one volume on the storage host: a block backstore on the LV's device, a
// target of its own with the LV as LUN 0, and an ACL per node it is published to. A target per
// volume keeps access control per volume (an ACL maps every LUN of its TPG) and lets a node's
// session end with the volume's unstage. Every step is idempotent: an object already there (or
// already gone) is what a retry after a crash expects.
import { ExecError, type Runner } from '../../exec/index.js';
import { StorageError } from '../errors.js';
import type { Program } from '../lvm/commands.js';
import {
  createAclCmd, createBackstoreCmd, createLunCmd, createTargetCmd, deleteAclCmd, deleteBackstoreCmd, deleteTargetCmd,
  isAlreadyThere, isNotThere, LOCK_WAIT_SECONDS, saveConfigCmd,
} from './targetcli.js';

/** targetcli takes seconds per command on a loaded host, and may first wait for the lock. */
const CONFIGFS = '/sys/kernel/config/target';
const TIMEOUT_MS = (LOCK_WAIT_SECONDS + 120) * 1000;

export interface LunRef { target: string; backstore: string; lun: number }

export class Lio {
  constructor(private readonly runner: Runner) {}

  private async run(p: Program, doing: string, tolerate?: (stderr: string) => boolean): Promise<void> {
    try {
      await this.runner.run(p.program, p.args, { timeoutMs: TIMEOUT_MS });
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit' && tolerate?.(e.stderr)) return;
      const detail = e instanceof ExecError ? (e.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || e.message) : (e as Error).message;
      const kind = e instanceof ExecError && (e.reason === 'timeout' || e.reason === 'spawn') ? 'unavailable' : 'internal';
      throw new StorageError(kind, `${doing} on ${this.runner.host}: ${detail}`, { cause: e });
    }
  }

  /** Backstore, target and LUN (each kept when already there), then saved. */
  async export(ref: LunRef, device: string): Promise<void> {
    await this.run(createBackstoreCmd(ref.backstore, device), `creating LIO backstore ${ref.backstore} on ${device}`, isAlreadyThere);
    await this.run(createTargetCmd(ref.target), `creating iSCSI target ${ref.target}`, isAlreadyThere);
    await this.run(createLunCmd(ref.target, ref.backstore, ref.lun), `mapping ${ref.backstore} as LUN ${ref.lun} of ${ref.target}`, isAlreadyThere);
    await this.save();
  }

  /** Whether LUN `ref.lun` of the target is live in the kernel (configfs): one cheap read instead of
   * three targetcli runs when a publish checks that the export is complete. */
  async exported(ref: LunRef): Promise<boolean> {
    const dir = `${CONFIGFS}/iscsi/${ref.target}/tpgt_1/lun/lun_${ref.lun}`;
    try {
      return (await this.runner.run('test', ['-d', dir], { timeoutMs: 60_000, okCodes: [0, 1] })).exitCode === 0;
    } catch (e) {
      throw new StorageError('unavailable', `reading ${dir} on ${this.runner.host}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The target (with its LUN and ACLs) and the backstore; nothing there is fine. */
  async unexport(ref: LunRef): Promise<void> {
    await this.run(deleteTargetCmd(ref.target), `deleting iSCSI target ${ref.target}`, isNotThere);
    await this.run(deleteBackstoreCmd(ref.backstore), `deleting LIO backstore ${ref.backstore}`, isNotThere);
    await this.save();
  }

  async allow(target: string, initiator: string): Promise<void> {
    await this.run(createAclCmd(target, initiator), `allowing ${initiator} on ${target}`, isAlreadyThere);
    await this.save();
  }

  async deny(target: string, initiator: string): Promise<void> {
    await this.run(deleteAclCmd(target, initiator), `removing ${initiator} from ${target}`, isNotThere);
    await this.save();
  }

  private save(): Promise<void> {
    return this.run(saveConfigCmd(), 'saving the LIO configuration');
  }
}
