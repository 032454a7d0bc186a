// Running zfs for one pool: argv from commands.ts, output through report.ts, failures through
// errors.ts. One `zfs list` of the parent answers a whole lookup.
import { change, ExecError, memoRead, type Runner } from '../../exec/index.js';
import {
  getDatasetCmd, isBlockCmd, listDatasetsCmd, listSnapshotsCmd, settleCmd, spaceCmd, type Program,
} from './commands.js';
import { StorageError } from '../errors.js';
import { zfsError } from './errors.js';
import { parseDatasets, parseSnapshots, parseSpace, type DatasetRow, type SnapshotRow, type SpaceRow } from './report.js';

export const ZFS_TIMEOUT_MS = 120_000;
/** How long udev may take to make a new zvol's /dev/zvol link. */
const DEVICE_WAIT_SECONDS = 30;

/** zfs list's answer for a name that is not there. */
const missing = (e: unknown) => e instanceof ExecError && e.reason === 'exit' && /dataset does not exist/i.test(e.stderr);

export class Zfs {
  constructor(private readonly runner: Runner, readonly parent: string) {}

  /** A zfs command that changes something (or reads what no lookup shares). */
  async run(p: Program, doing: string, timeoutMs = ZFS_TIMEOUT_MS): Promise<string> {
    try {
      return (await change(() => this.runner.run(p.program, p.args, { timeoutMs }))).stdout;
    } catch (e) {
      throw zfsError(e, doing);
    }
  }

  /** A listing: shared by repeats within one CSI call while nothing changed (exec/memo.ts). */
  private async list(p: Program): Promise<string> {
    const key = [this.runner.host, p.program, ...p.args].join('\0');
    return (await memoRead(key, () => this.runner.run(p.program, p.args, { timeoutMs: ZFS_TIMEOUT_MS }))).stdout;
  }

  /** The parent's children (volumes and trash); empty when the parent does not exist on this node. */
  async datasets(): Promise<DatasetRow[]> {
    try {
      const p = listDatasetsCmd(this.parent);
      const rows = parseDatasets(await this.list(p));
      return rows.filter((r) => r.name !== this.parent);
    } catch (e) {
      if (missing(e)) return [];
      throw zfsError(e, `listing the datasets under ${this.parent}`);
    }
  }

  async dataset(name: string): Promise<DatasetRow | undefined> {
    try {
      const p = getDatasetCmd(name);
      return parseDatasets(await this.list(p)).find((r) => r.name === name);
    } catch (e) {
      if (missing(e)) return undefined;
      throw zfsError(e, `reading dataset ${name}`);
    }
  }

  async snapshots(): Promise<SnapshotRow[]> {
    try {
      const p = listSnapshotsCmd(this.parent);
      return parseSnapshots(await this.list(p));
    } catch (e) {
      if (missing(e)) return [];
      throw zfsError(e, `listing the snapshots under ${this.parent}`);
    }
  }

  async space(): Promise<SpaceRow> {
    const row = parseSpace(await this.run(spaceCmd(this.parent), `reading the space of ${this.parent}`)).find((r) => r.name === this.parent);
    if (!row) throw zfsError(new Error(`zfs list did not report ${this.parent}`), 'reading space');
    return row;
  }

  /** Waits for udev to make a zvol's device link: a new zvol's appears shortly after `zfs create`;
   * an older one's is there, and one test answers (a run costs most of a second on a slow host). */
  async waitForDevice(dev: string): Promise<void> {
    if (await this.isBlock(dev)) return;
    const settle = settleCmd(dev, DEVICE_WAIT_SECONDS);
    await this.run(settle, `waiting for udev to make ${dev}`, (DEVICE_WAIT_SECONDS + 30) * 1000);
    if (!(await this.isBlock(dev))) throw new StorageError('unavailable', `${dev} did not appear within ${DEVICE_WAIT_SECONDS} s of creating the zvol (does udev run on ${this.runner.host}, with ZFS's udev rules?)`);
  }

  private async isBlock(dev: string): Promise<boolean> {
    const test = isBlockCmd(dev);
    return (await this.runner.run(test.program, test.args, { timeoutMs: ZFS_TIMEOUT_MS, okCodes: [0, 1] })).exitCode === 0;
  }
}
