// What the kernel says about iSCSI sessions and their disks (sysfs), the only record the node
// keeps of them: who is logged in where, and which LUNs each session carries. Counting LUNs
// from here (not from a file of ours) survives driver restarts and sees every user of a session.
//   /sys/class/iscsi_session/sessionN/{targetname,initiatorname,ifacename,state}
//   /sys/class/iscsi_session/sessionN/device/connectionN:0  (connection: persistent_address, persistent_port)
//   /sys/class/iscsi_session/sessionN/device/targetH:C:T/H:C:T:L/{state,block/sdX}
import { readdir, readFile } from 'node:fs/promises';
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
    });
  }
  return out;
}
