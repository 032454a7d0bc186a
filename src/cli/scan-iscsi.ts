// `poolcsi scan iscsi --portal HOST[:PORT]`: the targets a portal offers and their LUNs (size,
// SCSI id), to write iscsi-luns pools from or to check what an iscsi pool exported. LUNs are
// only visible through a session, so the scan logs in where this host has none, through the
// driver's own iscsiadm interface, and logs out again.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { local } from '../exec/index.js';
import { chapOf, IscsiTransport, portalOf, type DiscoveredTarget, type ProbedLun } from '../node/transports/iscsi.js';
import { initiatorIqnFor } from '../node/transports/iscsi-names.js';
import { isValidHostPort } from '../node/transports/grammar.js';
import { humanBytes, table } from './format.js';
import { nodeIdOf } from './local.js';

export const SCAN_ISCSI_HELP = `Usage: poolcsi scan iscsi --portal HOST[:PORT] [--target IQN] [--node-id NAME] [--chap-file FILE] [--json]

Lists the targets the portal offers (SendTargets discovery; no node record is kept) and each
target's LUNs with size and SCSI id. A LUN is seen only through a session: where this host has
one to the target it is read as it is; otherwise the scan logs in, reads, and logs out.
The login uses poolcsi's iscsiadm interface ("poolcsi") with the initiator name the driver uses
for --node-id (default: $NODE_ID, then the host name), so a target admits it where the driver's
node would be admitted; a target that refuses it is listed with the reason.
  --target IQN      only this target
  --chap-file FILE  CHAP for the login: lines "node.session.auth.username=...",
                    "node.session.auth.password=..." (and _in for mutual CHAP), the keys of the
                    CSI secrets; never given on the command line
`;

export interface ScannedTarget extends DiscoveredTarget { luns?: ProbedLun[]; error?: string }

/** "key=value" lines (blank lines and "#" comments skipped). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    // The line is not quoted: it may hold a secret.
    if (i <= 0) throw new Error(`line ${n + 1} is not "key=value"`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export function formatIscsiScan(portal: string, targets: ScannedTarget[]): string {
  if (!targets.length) return `${portal} offers no targets\n`;
  const rows: string[][] = [];
  for (const t of targets) {
    if (t.error) { rows.push([t.target, '-', '-', '-', t.error]); continue; }
    if (!t.luns?.length) { rows.push([t.target, '-', '-', '-', 'no LUNs']); continue; }
    for (const l of t.luns) {
      rows.push([t.target, String(l.lun), l.sizeBytes !== undefined ? humanBytes(l.sizeBytes) : '?', l.wwid ?? '?', [l.vendor, l.model].filter(Boolean).join(' ')]);
    }
  }
  return table(['TARGET', 'LUN', 'SIZE', 'SCSI ID', 'DEVICE'], rows);
}

export async function scanIscsiCommand(rest: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: rest, strict: true, allowPositionals: false,
      options: { portal: { type: 'string' }, target: { type: 'string' }, 'node-id': { type: 'string' }, 'chap-file': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${SCAN_ISCSI_HELP}`);
    return 2;
  }
  if (v.help) { process.stdout.write(SCAN_ISCSI_HELP); return 0; }
  if (!v.portal) { process.stderr.write(`--portal HOST[:PORT] is required\n${SCAN_ISCSI_HELP}`); return 2; }
  if (!isValidHostPort(v.portal)) { process.stderr.write(`--portal: ${JSON.stringify(v.portal.slice(0, 80))} is not HOST[:PORT]\n`); return 2; }
  const portal = portalOf(v.portal).arg;
  let chap;
  try {
    chap = v['chap-file'] ? chapOf(parseKeyValues(await readFile(v['chap-file'], 'utf8'))) : undefined;
    if (v['chap-file'] && !chap) throw new Error('it holds no CHAP keys');
  } catch (e) {
    process.stderr.write(`--chap-file ${v['chap-file']}: ${(e as Error).message}\n`);
    return 2;
  }
  const initiator = initiatorIqnFor(nodeIdOf(v['node-id']));
  const iscsi = new IscsiTransport(local);
  const targets: ScannedTarget[] = (await iscsi.discover(portal)).filter((t) => !v.target || t.target === v.target);
  if (v.target && !targets.length) { process.stderr.write(`${portal} does not offer ${v.target}\n`); return 1; }
  for (const t of targets) {
    try {
      t.luns = await iscsi.probe(t.target, portal, initiator, chap);
    } catch (e) {
      t.error = (e as Error).message;
    }
  }
  process.stdout.write(v.json ? `${JSON.stringify({ portal, initiator, targets }, null, 2)}\n` : formatIscsiScan(portal, targets));
  return 0;
}
