// What the kernel says about iSCSI sessions and their disks (sysfs), the only record the node
// keeps of them: who is logged in where, and which LUNs each session carries. Counting LUNs
// from here (not from a file of ours) survives driver restarts and sees every user of a session.
//   /sys/class/iscsi_session/sessionN/{targetname,initiatorname,ifacename,state}
//   /sys/class/iscsi_session/sessionN/device/connectionN:0  (connection: persistent_address, persistent_port)
//   /sys/class/iscsi_session/sessionN/device/targetH:C:T/H:C:T:L/{state,block/sdX,rescan}
//   /sys/class/iscsi_session/sessionN/device -> /sys/devices/.../hostH/sessionN
//   /sys/class/scsi_host/hostH/scan  ("C T L": add one LUN; records say node.session.scan = manual)
// Records are manual-scan (iscsi-record.ts): a session carries exactly the LUNs the node added,
// one per staged volume, so its disks are its users even on a target with many LUNs.
import { readdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface IscsiLun { hctl: string; lun: number; disk?: string; state: string; dir: string }

export interface IscsiSession {
  sid: number;
  target: string;
  initiator: string;
  iface: string;
  state: string;
  /** host:port of the (first) connection. */
  address: string;
  port: number;
  luns: IscsiLun[];
  /** The SCSI host the session is, when sysfs links it (the real one does). */
  host?: number;
}

async function text(path: string): Promise<string> {
  try { return (await readFile(path, 'utf8')).trim(); } catch { return ''; }
}

async function list(dir: string): Promise<string[]> {
  try { return await readdir(dir); } catch { return []; }
}

async function lunsOf(deviceDir: string): Promise<IscsiLun[]> {
  const out: IscsiLun[] = [];
  for (const t of (await list(deviceDir)).filter((e) => /^target\d+:\d+:\d+$/.test(e))) {
    for (const hctl of (await list(join(deviceDir, t))).filter((e) => /^\d+:\d+:\d+:\d+$/.test(e))) {
      const dir = join(deviceDir, t, hctl);
      const disk = (await list(join(dir, 'block'))).find((d) => /^[a-z0-9]+$/.test(d));
      out.push({ hctl, lun: Number(hctl.split(':')[3]), ...(disk ? { disk } : {}), state: await text(join(dir, 'state')), dir });
    }
  }
  return out;
}

/** Every iSCSI session of this host, with its LUNs. */
export async function iscsiSessions(sysfs = '/sys'): Promise<IscsiSession[]> {
  const base = join(sysfs, 'class', 'iscsi_session');
  const out: IscsiSession[] = [];
  for (const name of await list(base)) {
    const m = /^session(\d+)$/.exec(name);
    if (!m) continue;
    const dir = join(base, name);
    const deviceDir = join(dir, 'device');
    const conn = (await list(deviceDir)).find((e) => /^connection\d+:\d+$/.test(e));
    const connDir = conn ? join(sysfs, 'class', 'iscsi_connection', conn) : '';
    out.push({
      sid: Number(m[1]),
      target: await text(join(dir, 'targetname')),
      initiator: await text(join(dir, 'initiatorname')),
      iface: await text(join(dir, 'ifacename')),
      state: await text(join(dir, 'state')),
      address: connDir ? await text(join(connDir, 'persistent_address')) : '',
      port: connDir ? Number(await text(join(connDir, 'persistent_port'))) : 0,
      luns: await lunsOf(deviceDir),
      ...(await hostOf(deviceDir)),
    });
  }
  return out;
}

async function hostOf(deviceDir: string): Promise<{ host?: number }> {
  try {
    const m = /\/host(\d+)\/session\d+$/.exec(await realpath(deviceDir));
    return m ? { host: Number(m[1]) } : {};
  } catch {
    return {};
  }
}

/** Adds LUN `lun` of the session's target to the SCSI host ("-" = every LUN); the kernel scans it before the write returns. */
export async function scanLun(sysfs: string, s: IscsiSession, lun: number | '-'): Promise<void> {
  if (s.host === undefined) throw new Error(`session ${s.sid} has no SCSI host in sysfs`);
  // iSCSI sessions are channel 0, target id 0 of their own host.
  const [c, t] = s.luns[0]?.hctl.split(':').slice(1, 3) ?? ['0', '0'];
  await writeFile(join(sysfs, 'class', 'scsi_host', `host${s.host}`, 'scan'), lun === '-' ? '- - -' : `${c} ${t} ${lun}`);
}

/** Makes the kernel read the LUN's size again (after the target grew it). */
export async function rescanLun(l: IscsiLun): Promise<void> {
  await writeFile(join(l.dir, 'rescan'), '1');
}
