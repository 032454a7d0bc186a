// CHAP credentials of an iSCSI login, one-way (the target checks the initiator) or mutual (the
// initiator also checks the target). Keys are open-iscsi's own names, as csi-driver-iscsi and
// democratic-csi use them, so one Secret serves the controller (the LUN's ACL) and the node
// (the login):
//   node.session.auth.username / .password        the initiator's name and secret
//   node.session.auth.username_in / .password_in  the target's (mutual CHAP)
// Passwords never go in argv: the controller writes them to configfs from stdin, the node
// writes them into its own iscsiadm node record (a root-only file that iscsid reads when it
// logs in again after a connection loss), which NodeUnstage deletes with the session.
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CHAP_USER = 'node.session.auth.username';
export const CHAP_PASSWORD = 'node.session.auth.password';
export const CHAP_USER_IN = 'node.session.auth.username_in';
export const CHAP_PASSWORD_IN = 'node.session.auth.password_in';

/** Printable ASCII without spaces: what both LIO's configfs and iscsiadm records keep verbatim. */
const CHAP_VALUE = /^[\x21-\x7e]{1,255}$/;

export interface ChapPair { user: string; password: string }
export interface Chap extends ChapPair { mutual?: ChapPair }

/** Whether a secrets map carries CHAP at all. */
export function hasChap(s: Readonly<Record<string, string>> | undefined): boolean {
  return !!s && [CHAP_USER, CHAP_PASSWORD, CHAP_USER_IN, CHAP_PASSWORD_IN].some((k) => s[k] !== undefined);
}

/** The CHAP credentials of a secrets map, or a message saying what is wrong (no value quoted). */
export function parseChap(s: Readonly<Record<string, string>>, origin: string): Chap | string {
  const pair = (u: string, p: string): ChapPair | string | undefined => {
    if (s[u] === undefined && s[p] === undefined) return undefined;
    if (s[u] === undefined || s[p] === undefined) return `${origin}: ${s[u] === undefined ? u : p} is missing (${u} and ${p} go together)`;
    for (const k of [u, p]) if (!CHAP_VALUE.test(s[k]!)) return `${origin}: ${k} must be 1-255 printable ASCII characters without spaces`;
    return { user: s[u]!, password: s[p]! };
  };
  const one = pair(CHAP_USER, CHAP_PASSWORD);
  const mutual = pair(CHAP_USER_IN, CHAP_PASSWORD_IN);
  if (typeof one === 'string') return one;
  if (typeof mutual === 'string') return mutual;
  if (!one) return `${origin}: ${mutual ? `mutual CHAP (${CHAP_USER_IN}) needs one-way CHAP too (${CHAP_USER}, ${CHAP_PASSWORD})` : `no CHAP credentials (${CHAP_USER}, ${CHAP_PASSWORD})`}`;
  return mutual ? { ...one, mutual } : one;
}

/** The record with poolcsi's auth lines (CHAP, or none) where iscsiadm's were: before its end mark. */
export function withChap(record: string, chap: Chap | undefined): string {
  const kept = record.split('\n').filter((l) => l.trim() !== '' && !/^node\.session\.auth\.(authmethod|username|password)/.test(l.trim()));
  const auth = !chap ? ['node.session.auth.authmethod = None'] : [
    'node.session.auth.authmethod = CHAP',
    `${CHAP_USER} = ${chap.user}`,
    `${CHAP_PASSWORD} = ${chap.password}`,
    ...(chap.mutual ? [`${CHAP_USER_IN} = ${chap.mutual.user}`, `${CHAP_PASSWORD_IN} = ${chap.mutual.password}`] : []),
  ];
  const end = kept.findIndex((l) => l.startsWith('# END RECORD'));
  kept.splice(end < 0 ? kept.length : end, 0, ...auth);
  return `${kept.join('\n')}\n`;
}

/** The record files of `target` at `host:port` on interface `iface`: iscsiadm names a record
 * `<host>,<port>` when the target portal group is unknown (-o new without discovery; the
 * interface is inside) and `<host>,<port>,<tpgt>/<iface>` when it is known. */
async function recordFiles(nodesDir: string, target: string, host: string, port: number, iface: string): Promise<string[]> {
  const dir = join(nodesDir, target);
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.isFile() && e.name === `${host},${port}`) {
      const text = await readFile(join(dir, e.name), 'utf8');
      if (new RegExp(`^iface\\.iscsi_ifacename = ${iface}$`, 'm').test(text)) out.push(join(dir, e.name));
    } else if (e.isDirectory() && e.name.startsWith(`${host},${port},`)) {
      try {
        if ((await stat(join(dir, e.name, iface))).isFile()) out.push(join(dir, e.name, iface));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  return out;
}

/**
 * Sets CHAP (or none) in the node records of `target` at `host:port` for interface `iface`.
 * Each file is replaced whole (written aside, 0600, renamed). Returns how many it changed.
 */
export async function setRecordChap(nodesDir: string, target: string, host: string, port: number, iface: string, chap: Chap | undefined): Promise<number> {
  const files = await recordFiles(nodesDir, target, host, port, iface);
  for (const file of files) {
    const aside = `${file}.poolcsi-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(aside, withChap(await readFile(file, 'utf8'), chap), { mode: 0o600, flag: 'wx' });
      await rename(aside, file);
    } finally {
      await rm(aside, { force: true });
    }
  }
  return files.length;
}
