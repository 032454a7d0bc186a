// The iscsiadm node record of a target, as the node transport leaves it before logging in.
// iscsiadm sets values only through argv (-o update -v), which would put CHAP secrets on a
// command line, so the transport rewrites the record file itself (the node plugin mounts the
// host's /etc/iscsi): poolcsi's CHAP lines (or none), a bounded first login, and manual LUN
// scanning (the session gets only the LUNs the node adds: iscsi-sysfs.ts). The file is
// root-only; iscsid reads it again to log in after a connection loss; NodeUnstage deletes it
// with the session.
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../sys/atomic.js';
import { CHAP_PASSWORD, CHAP_PASSWORD_IN, CHAP_USER, CHAP_USER_IN, type Chap } from './iscsi-chap.js';

/** Attempts of a first login (open-iscsi's default is 8, at login_timeout 15 s each: 2 minutes
 * before a stage can say the target is unreachable). */
export const LOGIN_RETRIES = 2;

/** The record with poolcsi's auth lines (CHAP, or none) where iscsiadm's were, before its end
 * mark, the first login bounded, and LUNs scanned only when asked for. */
export function poolcsiRecord(record: string, chap: Chap | undefined): string {
  const kept = record.split('\n').filter((l) => l.trim() !== '' && !/^node\.session\.auth\.(authmethod|username|password)/.test(l.trim()))
    .map((l) => (/^node\.session\.initial_login_retry_max\s*=/.test(l) ? `node.session.initial_login_retry_max = ${LOGIN_RETRIES}`
      : /^node\.session\.scan\s*=/.test(l) ? 'node.session.scan = manual' : l));
  const auth = !chap ? ['node.session.auth.authmethod = None'] : [
    'node.session.auth.authmethod = CHAP',
    `${CHAP_USER} = ${chap.user}`,
    `${CHAP_PASSWORD} = ${chap.password}`,
    ...(chap.mutual ? [`${CHAP_USER_IN} = ${chap.mutual.user}`, `${CHAP_PASSWORD_IN} = ${chap.mutual.password}`] : []),
  ];
  if (!kept.some((l) => /^node\.session\.scan\s*=/.test(l))) auth.push('node.session.scan = manual');
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
 * Rewrites (poolcsiRecord) the node records of `target` at `host:port` for interface `iface`.
 * Each file is replaced whole (sys/atomic.ts: 0600, fsync, rename). Returns how many it changed.
 */
export async function rewriteRecords(nodesDir: string, target: string, host: string, port: number, iface: string, chap: Chap | undefined): Promise<number> {
  const files = await recordFiles(nodesDir, target, host, port, iface);
  for (const file of files) await writeFileAtomic(file, poolcsiRecord(await readFile(file, 'utf8'), chap));
  return files.length;
}
