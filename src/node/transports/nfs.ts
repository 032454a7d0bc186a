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
import { NodeError } from '../errors.js';
import { mountAt, readMounts } from '../../sys/mountinfo.js';
import { unmountStubborn } from '../mount.js';
import { checkKeys } from './grammar.js';
import type { Attached, AttachOptions, Condition, Descriptor, Stashed, Transport } from './types.js';

/** Where mounts live on this machine: the controller's export mounts and the node's volume mounts. */
export const NFS_MOUNT_ROOT = process.env.POOLCSI_NFS_MOUNT_DIR ?? '/run/poolcsi/nfs';

/** Descriptor keys (volume_context `nfs.<key>`). */
const KEYS = ['server', 'export', 'options', 'sizeEnforced', 'timeoutSeconds'] as const;

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

export interface NfsTransportOptions {
  /** Where this transport makes its mount points (one per server:export). */
  mountRoot: string;
  /** Deadline of a mount, of each unmount step, and of a health probe, when the descriptor names none. */
  timeoutMs?: number;
}

/** A checked descriptor as the transport uses it. */
interface Parsed extends NfsDescriptor { timeoutMs: number | undefined }

const invalid = (e: unknown) => (e instanceof DescriptorError ? new NodeError('invalid', `volume_context ${e.message}`) : e);

/**
 * `nfs`: mount server:/export/<dir> on this node (nfs pools). The pool's own options come in
 * the descriptor; the StorageClass's and capability's mount options go to this mount too
 * (takesMountOptions), as a bind of an NFS mount cannot change them.
 *   nfs.server          host name, IPv4 or [IPv6]
 *   nfs.export          absolute, normalized path on the server (the pool's export + the volume's directory)
 *   nfs.options         comma-joined mount options, each by the allow-list of pools/nfs-grammar.ts
 *   nfs.sizeEnforced    "true" (XFS project quota on the server) or "false" (recorded only); informational
 *   nfs.timeoutSeconds  deadline of a mount, an unmount step, a probe (the pool's timeoutSeconds)
 */
export class NfsTransport implements Transport {
  readonly kind = 'nfs';
  readonly takesMountOptions = true;
  private readonly timeoutMs: number;

  constructor(private readonly runner: Runner, private readonly opts: NfsTransportOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  parse(d: Descriptor): Descriptor {
    const p = this.parsed(d);
    const out: Record<string, string> = { server: p.server, export: p.export };
    if (p.options.length) out.options = p.options.join(',');
    if (d.sizeEnforced !== undefined) out.sizeEnforced = d.sizeEnforced;
    if (p.timeoutMs !== undefined) out.timeoutSeconds = String(p.timeoutMs / 1000);
    return out;
  }

  private parsed(d: Descriptor): Parsed {
    checkKeys(d, this.kind, KEYS);
    if (d.sizeEnforced !== undefined && d.sizeEnforced !== 'true' && d.sizeEnforced !== 'false') {
      throw new NodeError('invalid', 'volume_context nfs.sizeEnforced: must be true or false');
    }
    let timeoutMs: number | undefined;
    if (d.timeoutSeconds !== undefined) {
      if (!/^[1-9][0-9]{0,3}$/.test(d.timeoutSeconds)) throw new NodeError('invalid', 'volume_context nfs.timeoutSeconds: must be a whole number of seconds, 1-9999');
      timeoutMs = Number(d.timeoutSeconds) * 1000;
    }
    try {
      if (!d.server) throw new DescriptorError('nfs.server: is missing');
      if (!d.export) throw new DescriptorError('nfs.export: is missing');
      return { ...checkDescriptor({ server: d.server, export: d.export, options: splitOptions(d.options) }), timeoutMs };
    } catch (e) {
      throw invalid(e);
    }
  }

  /** One mount point per source, named by a hash so no descriptor value becomes a path. */
  mountPointFor(d: Pick<NfsDescriptor, 'server' | 'export'>): string {
    return join(this.opts.mountRoot, createHash('sha256').update(nfsSource(d)).digest('hex').slice(0, 32));
  }

  async attach(descriptor: Descriptor, o: AttachOptions): Promise<Attached> {
    const p = this.parsed(descriptor);
    let extra: string[];
    try { extra = (o.mountOptions ?? []).map(checkOption); } catch (e) { throw invalid(e); }
    const d = checkDescriptor({ ...p, options: [...p.options, ...extra] });
    const timeoutMs = p.timeoutMs ?? this.timeoutMs;
    const mountPoint = this.mountPointFor(d);
    const stash = { mountPoint, source: nfsSource(d) };
    const current = mountAt(await readMounts(), mountPoint);
    if (current) {
      if (current.fsType.startsWith('nfs') && sameSource(current.source, d)) return { kind: 'directory', path: mountPoint, stash };
      throw new NodeError('precondition', `${mountPoint} already holds ${current.source} (${current.fsType}), not ${nfsSource(d)}`);
    }
    await mkdir(mountPoint, { recursive: true, mode: 0o750 });
    const options = o.readonly && !d.options.includes('ro') ? [...d.options.filter((x) => x !== 'rw'), 'ro'] : d.options;
    const args = ['-t', 'nfs'];
    if (options.length) args.push('-o', options.join(','));
    try {
      await this.runner.run('mount', [...args, '--', nfsSource(d), mountPoint], { timeoutMs });
    } catch (e) {
      // A mount killed at its deadline may still have landed; never leave one behind untracked.
      await unmountStubborn(this.runner, mountPoint, timeoutMs).catch(() => undefined);
      await rmdir(mountPoint).catch(() => undefined);
      if (e instanceof ExecError && (e.reason === 'timeout' || e.reason === 'signal')) {
        throw new NodeError('unavailable', `mounting ${nfsSource(d)} did not finish within ${timeoutMs} ms (NFS server not responding?)`, { cause: e });
      }
      throw e;
    }
    return { kind: 'directory', path: mountPoint, stash };
  }

  /**
   * Idempotent; needs only the descriptor (the mount point is a function of it, so a stage that
   * crashed before its stash was complete is undone too). Removes the mount point only once
   * nothing is mounted there.
   */
  async detach(s: Stashed): Promise<void> {
    const { mountPoint, timeoutMs } = this.where(s);
    await unmountStubborn(this.runner, mountPoint, timeoutMs);
    try {
      await rmdir(mountPoint);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw e;
    }
  }

  async condition(s: Stashed): Promise<Condition> {
    const { mountPoint, source, timeoutMs } = this.where(s);
    const m = mountAt(await readMounts(), mountPoint);
    if (!m) return { abnormal: true, message: `the NFS export ${source} is not mounted at ${mountPoint}` };
    return probeNfs(this.runner, mountPoint, Math.min(timeoutMs, 10_000));
  }

  private where(s: Stashed): { mountPoint: string; source: string; timeoutMs: number } {
    const p = this.parsed(s.descriptor);
    return { mountPoint: this.mountPointFor(p), source: nfsSource(p), timeoutMs: p.timeoutMs ?? this.timeoutMs };
  }
}
