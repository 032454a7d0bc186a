// What an nfs pool does on the NFS server itself, over SSH (pool key `serverAgent`): XFS project
// quotas that make a volume's size real (the writer gets EDQUOT at the limit), and snapshots
// and clones as `cp --reflink=always` on the server (no data crosses the wire, blocks are
// shared until written). Directories and state stay with the controller's mount of the export.
//
// xfs_quota takes its subcommand as one argument that it splits on spaces itself: every value put
// into one is a checked number or a path of the export's grammar (no spaces, no quotes).
import { createHash } from 'node:crypto';
import { ExecError, type Runner, type RunResult } from '../../exec/index.js';
import type { NfsPool } from '../../pools/schema.js';
import { StorageError } from '../errors.js';
import { sshRunnerFor } from '../ssh.js';

export type ServerAgentSpec = NonNullable<NfsPool['serverAgent']>;

/** Project ids are 32-bit; 0 is "no project". Kept below 2^31 for tools that print them signed. */
const PROJECT_MAX = 0x7fffffff;
const SAFE_PATH = /^\/[A-Za-z0-9_.+@/-]*$/;
/** A quota-state answer is trusted this long (an admin who turns enforcement off is noticed). */
const STATE_TTL_MS = 60_000;

/** A volume's first-choice project id: stable for its name, so a retry picks the same one. */
export function projectIdFor(volume: string, attempt = 0): number {
  const h = createHash('sha256').update(`${volume}#${attempt}`).digest();
  return (h.readUInt32BE(0) % (PROJECT_MAX - 1)) + 1;
}

/** `state -p` output: is project quota enforced (not only accounted)? */
export function projectEnforced(stateOutput: string): boolean {
  const block = stateOutput.split(/^(?=\S)/m).find((b) => /^Project quota state/i.test(b));
  return !!block && /Accounting:\s*ON/i.test(block) && /Enforcement:\s*ON/i.test(block);
}

export function quotaSetCommand(mount: string, dir: string, projectId: number): string[] {
  return ['-x', '-c', `project -s -p ${checkedPath(dir)} ${checkedId(projectId)}`, checkedPath(mount)];
}

export function quotaLimitCommand(mount: string, projectId: number, bytes: number): string[] {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`quota limit ${bytes} is not a byte count`);
  return ['-x', '-c', `limit -p bhard=${bytes} ${checkedId(projectId)}`, checkedPath(mount)];
}

function checkedPath(p: string): string {
  if (!SAFE_PATH.test(p) || p.split('/').includes('..')) throw new Error(`path ${JSON.stringify(p)} is not usable in an xfs_quota command`);
  return p;
}

function checkedId(id: number): string {
  if (!Number.isInteger(id) || id < 1 || id > PROJECT_MAX) throw new Error(`project id ${id} is out of range`);
  return String(id);
}

export class ServerAgent {
  private quotaMount?: { path: string; at: number };

  constructor(
    readonly spec: ServerAgentSpec,
    /** The export's directory on the server. */
    readonly root: string,
    private readonly what: string,
    private readonly timeoutMs: number,
    private readonly runnerFor: () => Promise<Runner> = () => sshRunnerFor(spec.ssh, what),
  ) {}

  static forPool(pool: NfsPool): ServerAgent | undefined {
    if (!pool.serverAgent) return undefined;
    return new ServerAgent(pool.serverAgent, pool.serverAgent.path ?? pool.export, `pool "${pool.id}" server agent`, pool.timeoutSeconds * 1000);
  }

  get quotas(): boolean { return this.spec.quota === 'xfs-project'; }

  /** A path under the export on the server (rel is relative to the export). */
  serverPath(rel: string): string {
    return this.root === '/' ? `/${rel}` : `${this.root}/${rel}`;
  }

  private async run(program: string, args: string[], doing: string, timeoutMs = this.timeoutMs): Promise<RunResult> {
    let runner: Runner;
    try {
      runner = await this.runnerFor();
    } catch (e) {
      throw new StorageError('precondition', `${this.what}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return await runner.run(program, args, { timeoutMs });
    } catch (e) {
      if (e instanceof ExecError && e.reason === 'exit') {
        const detail = e.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || e.message;
        throw new StorageError(e.mentions('No space left', 'Disk quota exceeded') ? 'exhausted' : 'internal', `${this.what}: ${doing}: ${detail}`, { cause: e });
      }
      throw new StorageError('unavailable', `${this.what}: ${doing}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * The XFS mount point holding the export, once project quota is found enforced on it;
   * FAILED_PRECONDITION with the reason otherwise (not XFS, or mounted without prjquota).
   */
  private async quotaRoot(): Promise<string> {
    if (this.quotaMount && performance.now() - this.quotaMount.at < STATE_TTL_MS) return this.quotaMount.path;
    const found = await this.run('findmnt', ['-n', '-o', 'TARGET,FSTYPE', '--target', checkedPath(this.root)], `finding the filesystem of ${this.root}`);
    const [target, fstype] = found.stdout.trim().split('\n')[0]?.split(/\s+/) ?? [];
    if (!target || fstype !== 'xfs') {
      throw new StorageError('precondition', `${this.what}: quota xfs-project needs ${this.root} on XFS; it is on ${fstype ?? 'nothing findmnt knows'}`);
    }
    const state = await this.run('xfs_quota', ['-x', '-c', 'state -p', checkedPath(target)], `reading the quota state of ${target}`);
    if (!projectEnforced(state.stdout)) {
      throw new StorageError('precondition', `${this.what}: project quota is not enforced on ${target} (mount it with prjquota)`);
    }
    this.quotaMount = { path: target, at: performance.now() };
    return target;
  }

  /** Tags the volume's tree with its project (new files inherit it) and sets its hard limit. */
  async limitTree(dir: string, projectId: number, bytes: number): Promise<void> {
    const mount = await this.quotaRoot();
    await this.run('xfs_quota', quotaSetCommand(mount, this.serverPath(dir), projectId), `tagging ${dir} with project ${projectId}`, this.copyTimeout());
    await this.setLimit(projectId, bytes);
  }

  /** The project's hard limit in bytes; 0 lifts it (the directory is gone, retained or archived). */
  async setLimit(projectId: number, bytes: number): Promise<void> {
    const mount = await this.quotaRoot();
    await this.run('xfs_quota', quotaLimitCommand(mount, projectId, bytes), `limiting project ${projectId} to ${bytes} bytes`);
  }

  /** A copy of `from` at `to` (both relative to the export) sharing blocks: cp --reflink=always. */
  async reflink(from: string, to: string): Promise<void> {
    const src = checkedPath(this.serverPath(from));
    const dst = checkedPath(this.serverPath(to));
    await this.run('rm', ['-rf', '--one-file-system', '--', dst], `clearing ${to}`, this.copyTimeout());
    await this.run('cp', ['-a', '--reflink=always', '--', src, dst], `reflinking ${from} to ${to}`, this.copyTimeout());
  }

  /** Tagging and reflinking walk a whole tree: bounded, but not by the short server timeout. */
  private copyTimeout(): number {
    return Math.max(this.timeoutMs, 60 * 60_000);
  }
}
