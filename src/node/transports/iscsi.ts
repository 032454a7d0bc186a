// `iscsi`: the volume is a LUN of an iSCSI target, reached with open-iscsi.
//   iscsi.target   target IQN
//   iscsi.lun      LUN number
//   iscsi.portals  host[:port], comma-separated: more than one is one path per portal under a
//                  dm-multipath map that the host's multipathd keeps (iscsi-multipath.ts)
// publish_context.initiator: the initiator name the controller allowed (derived from the node
// id, iscsi-names.ts); it is set on the iscsiadm interface poolcsi owns ("poolcsi"), so the
// host's own /etc/iscsi/initiatorname.iscsi is left alone.
// A session (target + portal + our interface) is shared by every LUN on it and logged out when
// its last LUN is detached; the count is read from sysfs every time (iscsi-sysfs.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError, type Runner } from '../../exec/index.js';
import { waitFor } from '../../exec/wait.js';
import { execFailure, NodeError } from '../errors.js';
import { checkKeys, checkValue, isValidHostPort } from './grammar.js';
import { hasChap, parseChap, type Chap } from './iscsi-chap.js';
import { rewriteRecords } from './iscsi-record.js';
import { IFACE, isValidIqn } from './iscsi-names.js';
import { mapOf, Multipath } from './iscsi-multipath.js';
import { iscsiSessions, rescanLun, scanLun, type IscsiLun, type IscsiSession } from './iscsi-sysfs.js';
import type { Attached, AttachOptions, Condition, Descriptor, Stashed, Transport } from './types.js';

const TIMEOUT_MS = 120_000;
/** iscsiadm's record-database lock (open-iscsi's idbm_lock: a hard link made and removed around
 * each record change, held for milliseconds). An iscsiadm killed while holding it (the node
 * plugin killed mid-call: its container's processes die with it, or the pipe iscsiadm writes to
 * closes) leaves it, and the next iscsiadm waits 60 s for it before going ahead anyway. */
export const ISCSI_LOCK = '/run/lock/iscsi/lock.write';
/** How long the lock may stay unchanged before it counts as a dead iscsiadm's. */
const STALE_LOCK_MS = 5_000;
/** iscsiadm exit codes (iscsi_err.h). */
export const ISCSI_ERR = { IDBM: 6, SESS_EXISTS: 15, NO_OBJS_FOUND: 21, LOGIN_AUTH_FAILED: 24 } as const;

/** The most portals a volume may list (paths of one multipath map). */
export const MAX_PORTALS = 8;

/** host:port with the iSCSI port when none is given. */
export function portalOf(p: string): { host: string; port: number; arg: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]{1,5}))?$/.exec(p);
  if (!m) throw new NodeError('invalid', `volume_context iscsi.portals: "${p.slice(0, 80)}" is not host[:port]`);
  const port = m[2] ? Number(m[2]) : 3260;
  return { host: m[1]!, port, arg: `${m[1]}:${port}` };
}

export const ifaceShowArgs = () => ['-m', 'iface', '-I', IFACE];
export const ifaceNewArgs = () => ['-m', 'iface', '-I', IFACE, '-o', 'new'];
export const ifaceInitiatorArgs = (initiator: string) => ['-m', 'iface', '-I', IFACE, '-o', 'update', '-n', 'iface.initiatorname', '-v', initiator];
export const nodeNewArgs = (target: string, portal: string) => ['-m', 'node', '-T', target, '-p', portal, '-I', IFACE, '-o', 'new'];
export const loginArgs = (target: string, portal: string) => ['-m', 'node', '-T', target, '-p', portal, '-I', IFACE, '--login'];
export const logoutArgs = (target: string, portal: string) => ['-m', 'node', '-T', target, '-p', portal, '-I', IFACE, '--logout'];
export const nodeDeleteArgs = (target: string, portal: string) => ['-m', 'node', '-T', target, '-p', portal, '-I', IFACE, '-o', 'delete'];
/** SendTargets discovery that writes no node records. */
export const discoveryArgs = (portal: string) => ['-m', 'discovery', '-t', 'sendtargets', '-p', portal, '-o', 'nonpersistent'];

export interface DiscoveredTarget { target: string; portals: Array<{ address: string; tpgt: number }> }

/** Parses SendTargets discovery: "<host>:<port>,<tpgt> <iqn>" per line (one line per portal). */
export function parseDiscovery(text: string): DiscoveredTarget[] {
  const out = new Map<string, DiscoveredTarget>();
  for (const line of text.split('\n')) {
    const m = /^(\S+),(\d+)\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const t = out.get(m[3]!) ?? { target: m[3]!, portals: [] };
    t.portals.push({ address: m[1]!, tpgt: Number(m[2]) });
    out.set(t.target, t);
  }
  return [...out.values()];
}

/** A LUN as a session shows it: its disk, size and SCSI id (what multipath keys on). */
export interface ProbedLun { lun: number; disk?: string; sizeBytes?: number; wwid?: string; vendor?: string; model?: string; state: string }

export interface IscsiTransportOptions {
  sysfs?: string;
  /** How long a LUN's disk may take to appear after login (or rescan). */
  deviceWaitMs?: number;
  /** iscsiadm's node records (the host's, mounted at the same path in the node plugin). */
  nodesDir?: string;
}

export class IscsiTransport implements Transport {
  readonly kind = 'iscsi';
  private readonly sysfs: string;
  private readonly deviceWaitMs: number;
  private readonly nodesDir: string;
  private readonly multipath: Multipath;
  private lockSwept?: Promise<void>;
  /** The initiator name this process last found or set on our interface: a stage with the
   * same name reads the interface no more (one iscsiadm less). A failed record or login
   * forgets it, so the next stage reads the interface again. */
  private ifaceInitiator?: string;

  constructor(private readonly runner: Runner, opts: IscsiTransportOptions = {}) {
    this.sysfs = opts.sysfs ?? '/sys';
    this.deviceWaitMs = opts.deviceWaitMs ?? 60_000;
    this.nodesDir = opts.nodesDir ?? '/etc/iscsi/nodes';
    this.multipath = new Multipath(runner, this.sysfs, this.deviceWaitMs);
  }

  parse(d: Descriptor): Descriptor {
    checkKeys(d, this.kind, ['target', 'lun', 'portals', 'wwid']);
    const portals = checkValue(d, 'portals', 'iscsi.portals', (v) => {
      const list = v.split(',');
      return list.length <= MAX_PORTALS && list.every(isValidHostPort) && new Set(list.map((p) => portalOf(p).arg.toLowerCase())).size === list.length;
    }, `1 to ${MAX_PORTALS} distinct host[:port], comma-separated`);
    return {
      target: checkValue(d, 'target', 'iscsi.target', isValidIqn, 'an iSCSI qualified name (iqn.)'),
      lun: checkValue(d, 'lun', 'iscsi.lun', (v) => /^(0|[1-9][0-9]{0,4})$/.test(v) && Number(v) < 16384, 'a LUN number'),
      portals,
      // iscsi-luns: the SCSI id of the LUN the controller claimed (a LUN number can be remapped).
      ...(d.wwid !== undefined ? { wwid: checkValue(d, 'wwid', 'iscsi.wwid', (v) => /^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(v), 'a SCSI id as sysfs shows it') } : {}),
    };
  }

  private async iscsiadm(args: string[], doing: string, okCodes: number[] = [0]): Promise<void> {
    try {
      await this.run(args, okCodes);
    } catch (e) {
      throw execFailure(e, doing);
    }
  }

  private async run(args: string[], okCodes: number[] = [0]) {
    await this.sweepLock();
    return this.runner.run('iscsiadm', args, { timeoutMs: TIMEOUT_MS, okCodes });
  }

  /**
   * Once per process, before its first iscsiadm: a lock a killed predecessor left (the usual
   * reason this process is new) is removed, instead of stalling this stage for a minute. A live
   * holder changes it within milliseconds; one unchanged (same ctime, to the nanosecond) for
   * STALE_LOCK_MS is no one's, and no one can take the lock while it stands. Best effort: run
   * where iscsiadm runs (the host's /run with `node.iscsiadm: host`).
   */
  private sweepLock(): Promise<void> {
    this.lockSwept ??= (async () => {
      const ctime = async () => (await this.runner.run('stat', ['-c', '%z', '--', ISCSI_LOCK], { okCodes: [0, 1] })).stdout.trim();
      const first = await ctime();
      if (!first) return;
      const moved = await waitFor(async () => ((await ctime()) !== first ? true : undefined), { timeoutMs: STALE_LOCK_MS, what: 'iscsiadm\'s lock to move' })
        .catch(() => false);
      if (!moved) await this.runner.run('rm', ['-f', '--', ISCSI_LOCK]);
    })().catch(() => undefined);
    return this.lockSwept;
  }

  /** Our session to target at portal, if logged in (or logging in). */
  private async session(target: string, portal: { host: string; port: number }): Promise<IscsiSession | undefined> {
    return (await iscsiSessions(this.sysfs)).find((s) => s.target === target && s.iface === IFACE && sameHost(s.address, portal.host) && s.port === portal.port);
  }

  async attach(raw: Descriptor, o: AttachOptions): Promise<Attached> {
    const d = this.parse(raw);
    const target = d.target!;
    const lun = Number(d.lun);
    const initiator = o.publishContext.initiator ?? '';
    if (!isValidIqn(initiator)) {
      throw new NodeError('invalid', 'publish_context "initiator" is missing or not an IQN: the volume must be published to this node (ControllerPublishVolume) first');
    }
    const chap = chapOf(o.secrets);
    const disks: string[] = [];
    // One portal after another: iscsiadm serializes its record changes anyway.
    for (const portal of portalsOf(d.portals!)) disks.push(await this.diskAt(target, portal, lun, initiator, chap));
    // Each disk's SCSI id, read once for both checks (none is needed for one disk of an iscsi pool).
    const ids = d.wwid !== undefined || disks.length > 1 ? await this.wwids(disks) : [];
    if (d.wwid !== undefined) isLun(disks, ids, d.wwid, target, lun);
    if (disks.length === 1) return { kind: 'device', path: `/dev/${disks[0]}`, stash: { disk: disks[0]! } };
    sameLun(disks, ids, target, lun);
    const map = await this.multipath.assemble(disks);
    return { kind: 'device', path: `/dev/${map.dm}`, stash: { disks: disks.join(','), map: map.name } };
  }

  /** The disk of LUN `lun` through our session to target at portal, logging in when needed. */
  private async diskAt(target: string, portal: Portal, lun: number, initiator: string, chap: Chap | undefined): Promise<string> {
    const { existing } = await this.loggedIn(target, portal, initiator, chap);
    if (existing?.initiator && existing.initiator !== initiator) {
      throw new NodeError('precondition', `session ${existing.sid} to ${target} uses initiator ${existing.initiator}, not ${initiator} as published`);
    }
    let rescanned = false;
    const found = await waitFor(async () => {
      const session = await this.session(target, portal);
      const l = session?.luns.find((x) => x.lun === lun && x.disk);
      if (l && l.state === 'running') return l;
      // Sessions scan no LUN by themselves (node.session.scan = manual): add this one, and only
      // this one, so the session's disks stay exactly its staged volumes.
      if (session && session.state === 'LOGGED_IN' && !l && !rescanned) {
        rescanned = true;
        await this.scan(session, lun);
      }
      return undefined;
    }, { timeoutMs: this.deviceWaitMs, what: `LUN ${lun} of ${target} at ${portal.arg} to appear as a disk` }).catch((e: unknown) => {
      throw e instanceof NodeError ? e : new NodeError('unavailable', (e as Error).message, { cause: e });
    });
    return found.disk!;
  }

  private wwids(disks: readonly string[]): Promise<string[]> {
    return Promise.all(disks.map((x) => readFile(join(this.sysfs, 'block', x, 'device', 'wwid'), 'utf8').then((t) => t.trim(), () => '')));
  }

  private async scan(session: IscsiSession, lun: number | '-'): Promise<void> {
    try {
      await scanLun(this.sysfs, session, lun);
    } catch (e) {
      throw new NodeError('unavailable', `scanning LUN ${lun} of session ${session.sid}: ${(e as Error).message}`, { cause: e });
    }
  }


  /** Logs in through our interface unless our session to target at portal exists; says which
   * (a session found is someone's to keep; one made here is the caller's). */
  private async loggedIn(target: string, portal: Portal, initiator: string, chap: Chap | undefined): Promise<{ existing?: IscsiSession }> {
    const existing = await this.session(target, portal);
    if (existing) return { existing };
    await this.ensureIface(initiator);
    try {
      await this.iscsiadm(nodeNewArgs(target, portal.arg), `recording target ${target} at ${portal.arg}`);
      await this.login(target, portal, chap);
    } catch (e) {
      this.ifaceInitiator = undefined;
      throw e;
    }
    return {};
  }

  /**
   * Our interface with the published initiator name. -o new refuses (15) to rewrite an
   * interface a session uses, so it is created only when missing (6) and renamed only when
   * its name differs: another LUN's session on it must not fail this stage.
   */
  private async ensureIface(initiator: string): Promise<void> {
    if (this.ifaceInitiator === initiator) return;
    let shown: string;
    try {
      const r = await this.run(ifaceShowArgs(), [0, ISCSI_ERR.IDBM]);
      shown = r.exitCode === 0 ? r.stdout : '';
    } catch (e) {
      throw execFailure(e, `reading iscsiadm interface ${IFACE}`);
    }
    const current = /^iface\.initiatorname = (.*)$/m.exec(shown)?.[1]?.trim();
    if (!shown) await this.iscsiadm(ifaceNewArgs(), `creating iscsiadm interface ${IFACE}`, [0, ISCSI_ERR.SESS_EXISTS]);
    if (current !== initiator) await this.iscsiadm(ifaceInitiatorArgs(initiator), `setting the initiator name of interface ${IFACE}`);
    this.ifaceInitiator = initiator;
  }

  /** Logs in with CHAP set in the node record (never in argv); a failed login leaves no record. */
  private async login(target: string, portal: Portal, chap: Chap | undefined): Promise<void> {
    let records: number;
    try {
      records = await rewriteRecords(this.nodesDir, target, portal.host, portal.port, IFACE, chap);
    } catch (e) {
      throw new NodeError('internal', `writing the node record of ${target}: ${(e as Error).message}`, { cause: e });
    }
    if (records === 0) throw new NodeError('precondition', `no iscsiadm node record of ${target} at ${portal.arg} under ${this.nodesDir} (is /etc/iscsi the host's?)`);
    try {
      await this.iscsiadm(loginArgs(target, portal.arg), `logging in to ${target} at ${portal.arg}`, [0, ISCSI_ERR.SESS_EXISTS]);
    } catch (e) {
      if (!(await this.session(target, portal))) {
        await this.iscsiadm(nodeDeleteArgs(target, portal.arg), `deleting the node record of ${target} at ${portal.arg}`, [0, ISCSI_ERR.NO_OBJS_FOUND]).catch(() => undefined);
      }
      const cause = (e as NodeError).cause;
      if (cause instanceof ExecError && cause.reason === 'exit' && cause.exitCode === ISCSI_ERR.LOGIN_AUTH_FAILED) {
        throw new NodeError('denied', `${target} at ${portal.arg} refused the login (authorization failure): ${chap ? 'the CHAP credentials of the node-stage secret are wrong, or ' : 'the target may require CHAP (node-stage secret keys node.session.auth.username/password), or '}this node's initiator is not in the LUN's ACL`, { cause: e });
      }
      throw e;
    }
  }

  /** SendTargets discovery at `portal` (host[:port]). */
  async discover(portal: string): Promise<DiscoveredTarget[]> {
    const p = portalOf(portal);
    try {
      return parseDiscovery((await this.run(discoveryArgs(p.arg))).stdout);
    } catch (e) {
      throw execFailure(e, `discovering targets at ${p.arg}`);
    }
  }

  /**
   * The LUNs of `target` at `portal`, read from our session to it: an existing one is read as
   * it is; otherwise this logs in (as `initiator`, with `chap`), reads, and logs out again,
   * leaving no record behind.
   */
  async probe(target: string, portal: string, initiator: string, chap?: Chap): Promise<ProbedLun[]> {
    const p = portalOf(portal);
    if (!isValidIqn(target)) throw new NodeError('invalid', `"${target.slice(0, 80)}" is not an iSCSI qualified name`);
    const ours = !(await this.loggedIn(target, p, initiator, chap)).existing;
    try {
      const session = await this.session(target, p);
      // A session of ours is scanned for every LUN (it goes with the probe); another's is read as it is.
      if (session && ours) await this.scan(session, '-');
      const luns = await waitFor(async () => {
        const s = await this.session(target, p);
        return s && s.luns.every((l) => l.disk) ? s.luns : undefined;
      }, { timeoutMs: this.deviceWaitMs, what: `the LUNs of ${target} to appear as disks` });
      return await Promise.all(luns.map((l) => this.describe(l)));
    } finally {
      if (ours) {
        await this.iscsiadm(logoutArgs(target, p.arg), `logging out of ${target} at ${p.arg}`, [0, ISCSI_ERR.NO_OBJS_FOUND]);
        await this.iscsiadm(nodeDeleteArgs(target, p.arg), `deleting the node record of ${target} at ${p.arg}`, [0, ISCSI_ERR.NO_OBJS_FOUND]);
      }
    }
  }

  private async describe(l: IscsiLun): Promise<ProbedLun> {
    const read = (f: string) => readFile(join(l.dir, f), 'utf8').then((t) => t.trim(), () => undefined);
    const sectors = l.disk ? await readFile(join(this.sysfs, 'block', l.disk, 'size'), 'utf8').then(Number, () => undefined) : undefined;
    const [wwid, vendor, model] = await Promise.all([read('wwid'), read('vendor'), read('model')]);
    return {
      lun: l.lun, state: l.state, ...(l.disk ? { disk: l.disk } : {}), ...(sectors !== undefined ? { sizeBytes: sectors * 512 } : {}),
      ...(wwid ? { wwid } : {}), ...(vendor ? { vendor } : {}), ...(model ? { model } : {}),
    };
  }

  /** Flushes the LUN's multipath map (more than one portal), removes its disks, then logs out
   * each session that has no LUN left. */
  async detach(s: Stashed): Promise<void> {
    const d = this.parse(s.descriptor);
    const target = d.target!;
    const lun = Number(d.lun);
    const portals = portalsOf(d.portals!);
    if (portals.length > 1) {
      const disks = await this.disksAt(target, portals, lun);
      if (disks.length > 0) await this.multipath.dismantle(disks);
    }
    for (const portal of portals) {
      const session = await this.session(target, portal);
      if (session) {
        for (const l of session.luns.filter((x) => x.lun === lun)) await this.removeDisk(l);
        const left = (await this.session(target, portal))?.luns.filter((l) => l.lun !== lun) ?? [];
        if (left.length > 0) continue;
        await this.iscsiadm(logoutArgs(target, portal.arg), `logging out of ${target} at ${portal.arg}`, [0, ISCSI_ERR.NO_OBJS_FOUND]);
      }
      await this.iscsiadm(nodeDeleteArgs(target, portal.arg), `deleting the node record of ${target} at ${portal.arg}`, [0, ISCSI_ERR.NO_OBJS_FOUND]);
    }
  }

  /** The disks of LUN `lun` through each portal's session (portals without a session or the disk left out). */
  private async disksAt(target: string, portals: Portal[], lun: number): Promise<string[]> {
    const sessions = await Promise.all(portals.map((p) => this.session(target, p)));
    return sessions.flatMap((x) => x?.luns.filter((l) => l.lun === lun && l.disk).map((l) => l.disk!) ?? []);
  }

  private async removeDisk(l: IscsiLun): Promise<void> {
    if (l.disk) {
      try {
        await this.runner.run('blockdev', ['--flushbufs', `/dev/${l.disk}`], { timeoutMs: TIMEOUT_MS });
      } catch (e) {
        throw execFailure(e, `flushing /dev/${l.disk}`);
      }
    }
    try {
      await writeFile(join(l.dir, 'delete'), '1');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new NodeError('internal', `removing SCSI device ${l.hctl}: ${(e as Error).message}`, { cause: e });
    }
  }

  async rescan(s: Stashed): Promise<void> {
    const d = this.parse(s.descriptor);
    const portals = portalsOf(d.portals!);
    for (const portal of portals) {
      const session = await this.session(d.target!, portal);
      if (!session) throw new NodeError('unavailable', `no session to ${d.target} at ${portal.arg}`);
      // The LUN's own rescan: iscsiadm's session rescan would add every LUN of the target too.
      for (const l of session.luns.filter((x) => x.lun === Number(d.lun))) {
        try {
          await rescanLun(l);
        } catch (e) {
          throw new NodeError('unavailable', `rescanning SCSI device ${l.hctl}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    if (portals.length > 1) {
      await this.multipath.resize(await this.disksAt(d.target!, portals, Number(d.lun)));
    }
  }

  async condition(s: Stashed): Promise<Condition> {
    const d = this.parse(s.descriptor);
    const lun = Number(d.lun);
    const portals = portalsOf(d.portals!);
    const paths: string[] = [];
    for (const portal of portals) {
      const session = await this.session(d.target!, portal);
      if (!session) return { abnormal: true, message: `not logged in to ${d.target} at ${portal.arg}` };
      if (session.state !== 'LOGGED_IN') return { abnormal: true, message: `session ${session.sid} to ${d.target} at ${portal.arg} is ${session.state}` };
      const l = session.luns.find((x) => x.lun === lun);
      if (!l?.disk) return { abnormal: true, message: `LUN ${d.lun} of ${d.target} at ${portal.arg} has no disk` };
      if (l.state !== 'running') return { abnormal: true, message: `disk ${l.disk} (LUN ${d.lun} of ${d.target}) is ${l.state}` };
      paths.push(l.disk);
    }
    if (paths.length === 1) return { abnormal: false, message: `logged in to ${d.target}; LUN ${d.lun} is ${paths[0]}` };
    const map = await mapOf(this.sysfs, paths);
    if (!map) return { abnormal: true, message: `no multipath map over ${paths.join(', ')} (LUN ${d.lun} of ${d.target})` };
    const missing = paths.filter((p) => !map.slaves.includes(p));
    if (missing.length > 0) return { abnormal: true, message: `multipath map ${map.name} lacks path ${missing.join(', ')}` };
    return { abnormal: false, message: `logged in to ${d.target} at ${portals.length} portals; LUN ${d.lun} is ${map.dm} (${map.name}) over ${paths.join(', ')}` };
  }
}

type Portal = ReturnType<typeof portalOf>;

/** The descriptor's portals (checked by parse). */
const portalsOf = (v: string): Portal[] => v.split(',').map(portalOf);

/** CHAP from the node-stage secrets: none when they carry no CHAP key, an error when malformed. */
export function chapOf(secrets: Readonly<Record<string, string>> | undefined): Chap | undefined {
  if (!hasChap(secrets)) return undefined;
  const c = parseChap(secrets!, 'node-stage secrets');
  if (typeof c === 'string') throw new NodeError('invalid', c);
  return c;
}

function sameHost(a: string, b: string): boolean {
  const strip = (h: string) => h.replace(/^\[|\]$/g, '').toLowerCase();
  return strip(a) === strip(b);
}

/** The disks must show the SCSI id the volume was claimed by (iscsi-luns): another LUN now at that number holds someone else's data. */
function isLun(disks: readonly string[], ids: readonly string[], wwid: string, target: string, lun: number): void {
  const norm = (v: string) => v.trim().toLowerCase().replace(/\s+/g, ' ');
  disks.forEach((x, i) => {
    if (norm(ids[i]!) !== norm(wwid)) {
      throw new NodeError('precondition', `LUN ${lun} of ${target} (${x}) has SCSI id ${ids[i] || 'none'}, not ${wwid} as claimed: the target's LUNs were remapped; the volume is not staged`);
    }
  });
}

/** Paths of one map must be one LUN: portals of different targets' hosts would mix data. */
function sameLun(disks: readonly string[], ids: readonly string[], target: string, lun: number): void {
  if (!ids[0] || ids.some((i) => i !== ids[0])) {
    throw new NodeError('precondition', `the portals of ${target} show LUN ${lun} with different SCSI ids (${disks.map((x, i) => `${x}: ${ids[i] || 'none'}`).join(', ')}): they are not paths to one LUN`);
  }
}
