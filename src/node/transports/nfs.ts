// The NFS node transport: mount server:/export/<dir> on this node and say where.
// The descriptor comes from a PV's volume_context (external input), so every value is checked
// by grammar before it reaches mount(8). Nothing here may hang kubelet: mounts and probes run
// in child processes with deadlines, unmounts escalate (plain, forced, lazy) and always finish,
// and data is never deleted behind a mount (only an empty mount point is removed).
import { createHash } from 'node:crypto';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError, type Runner } from '../../exec/index.js';
import { checkExportPath, checkOption, checkServer, DescriptorError } from '../../pools/nfs-grammar.js';
import { mountAt, readMounts } from '../mountinfo.js';
import { unmountStubborn } from '../mount.js';

/** The contract's directory/device result plus what detach/condition need later. */
export type Attached = ({ kind: 'device'; path: string } | { kind: 'directory'; path: string }) & { stash: Record<string, string> };
export type Stash = Record<string, string>;
export interface AttachOptions { secrets?: Record<string, string>; publishContext: Record<string, string>; readonly: boolean }

export interface NfsDescriptor {
  server: string;
  /** Absolute, normalized path on the server: the pool's export plus the volume directory. */
  export: string;
  /** Mount options (pool options + StorageClass/capability mount flags), each checked. */
  options: string[];
}

export { checkExportPath, checkOption, checkServer, DescriptorError };

export function splitOptions(joined: string | undefined): string[] {
  return (joined ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** The descriptor from a volume context (`nfs.server`, `nfs.export`, `nfs.options`), checked. */
export function nfsDescriptor(ctx: Readonly<Record<string, string>>, extraOptions: readonly string[] = []): NfsDescriptor {
  const server = ctx['nfs.server'];
  const exp = ctx['nfs.export'];
  if (!server) throw new DescriptorError('volume context has no nfs.server');
  if (!exp) throw new DescriptorError('volume context has no nfs.export');
  return checkDescriptor({ server, export: exp, options: [...splitOptions(ctx['nfs.options']), ...extraOptions] });
}

export function checkDescriptor(d: NfsDescriptor): NfsDescriptor {
  const options = [...new Set(d.options.map(checkOption))];
  return { server: checkServer(d.server), export: checkExportPath(d.export), options };
}

/** mount(8)'s source: host:/path, or [v6]:/path. */
export function nfsSource(d: Pick<NfsDescriptor, 'server' | 'export'>): string {
  return `${d.server}:${d.export}`;
}

/** The NFS version an option list asks for ("4.2", "3"...), undefined when the default applies. */
export function versionOf(options: readonly string[]): string | undefined {
  for (const o of options) {
    const m = /^(?:vers|nfsvers)=(.+)$/.exec(o);
    if (m) return m[1];
  }
  return undefined;
}

/** Does a mountinfo source name the same export? The kernel may drop a trailing "/" or rewrite v6 brackets. */
export function sameSource(mounted: string, d: Pick<NfsDescriptor, 'server' | 'export'>): boolean {
  const strip = (s: string) => s.replace(/\/+$/, '') || '/';
  return strip(mounted) === strip(nfsSource(d));
}

export interface NfsTransportOptions {
  /** Where this transport makes its mount points (one per server:export). */
  mountRoot: string;
  /** Deadline of a mount, of each unmount step, and of a health probe. */
  timeoutMs?: number;
}

export interface Condition { abnormal: boolean; message: string }

/**
 * Probes a mounted NFS directory with `stat -f` (statfs always asks the server; a plain stat
 * may be answered from the attribute cache) in a child process, so a dead server costs a
 * killed child, not a stuck thread of this process. ESTALE and a timeout are abnormal.
 */
export async function probeNfs(runner: Runner, path: string, timeoutMs: number): Promise<Condition> {
  try {
    await runner.run('stat', ['-f', '-c', '%b', '--', path], { timeoutMs });
    return { abnormal: false, message: `${path} answers` };
  } catch (e) {
    if (e instanceof ExecError) {
      if (e.reason === 'timeout' || e.reason === 'signal') {
        return { abnormal: true, message: `NFS server not responding: stat ${path} did not answer within ${timeoutMs} ms` };
      }
      if (e.mentions('stale file handle')) return { abnormal: true, message: `stale NFS file handle at ${path} (the directory was removed or re-exported on the server)` };
      return { abnormal: true, message: `cannot stat ${path}: ${e.stderr.trim() || e.message}` };
    }
    throw e;
  }
}

export class NfsTransport {
  readonly kind = 'nfs';
  private readonly timeoutMs: number;

  constructor(private readonly runner: Runner, private readonly opts: NfsTransportOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** One mount point per source, named by a hash so no descriptor value becomes a path. */
  mountPointFor(d: Pick<NfsDescriptor, 'server' | 'export'>): string {
    return join(this.opts.mountRoot, createHash('sha256').update(nfsSource(d)).digest('hex').slice(0, 32));
  }

  async attach(descriptor: NfsDescriptor, o: AttachOptions): Promise<Attached> {
    const d = checkDescriptor(descriptor);
    const mountPoint = this.mountPointFor(d);
    const stash: Stash = { mountPoint, source: nfsSource(d) };
    const current = mountAt(await readMounts(), mountPoint);
    if (current) {
      if (current.fsType.startsWith('nfs') && sameSource(current.source, d)) return { kind: 'directory', path: mountPoint, stash };
      throw new DescriptorError(`${mountPoint} already holds ${current.source} (${current.fsType}), not ${nfsSource(d)}`);
    }
    await mkdir(mountPoint, { recursive: true, mode: 0o750 });
    const options = o.readonly && !d.options.includes('ro') ? [...d.options.filter((x) => x !== 'rw'), 'ro'] : d.options;
    const args = ['-t', 'nfs'];
    if (options.length) args.push('-o', options.join(','));
    try {
      await this.runner.run('mount', [...args, '--', nfsSource(d), mountPoint], { timeoutMs: this.timeoutMs });
    } catch (e) {
      // A mount killed at its deadline may still have landed; never leave one behind untracked.
      await unmountStubborn(this.runner, mountPoint, this.timeoutMs).catch(() => undefined);
      await rmdir(mountPoint).catch(() => undefined);
      throw e;
    }
    return { kind: 'directory', path: mountPoint, stash };
  }

  /** Idempotent; needs only the stash. Removes the mount point only once nothing is mounted there. */
  async detach(s: Stash): Promise<void> {
    const mountPoint = this.checkedStash(s);
    await unmountStubborn(this.runner, mountPoint, this.timeoutMs);
    try {
      await rmdir(mountPoint);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw e;
    }
  }

  async condition(s: Stash): Promise<Condition> {
    const mountPoint = this.checkedStash(s);
    const m = mountAt(await readMounts(), mountPoint);
    if (!m) return { abnormal: true, message: `the NFS export ${s.source ?? ''} is not mounted at ${mountPoint}` };
    return probeNfs(this.runner, mountPoint, Math.min(this.timeoutMs, 10_000));
  }

  /** A stash is read back from disk: its mount point must be one this transport makes. */
  private checkedStash(s: Stash): string {
    const mp = s.mountPoint ?? '';
    const prefix = this.opts.mountRoot.endsWith('/') ? this.opts.mountRoot : `${this.opts.mountRoot}/`;
    if (!mp.startsWith(prefix) || !/^[0-9a-f]{32}$/.test(mp.slice(prefix.length))) {
      throw new DescriptorError(`stash mount point ${JSON.stringify(mp)} is not under ${this.opts.mountRoot}`);
    }
    return mp;
  }
}
