// `poolcsi scan nfs SERVER`: the exports an NFS server offers (its mountd's list, the way a
// storage manager's nfs scan shows them), to write nfs pool definitions from.
import { local, type Runner } from '../exec/index.js';
import { checkServer } from '../pools/nfs-grammar.js';
import { table } from './format.js';

export const SCAN_NFS_HELP = `Usage: poolcsi scan nfs SERVER [--json]

Lists the exports of the NFS server SERVER (host name, IPv4 or [IPv6] address) and the clients
each is exported to, from "showmount -e" (nfs-common). mountd answers this over NFSv3's MOUNT
protocol: a server that serves only NFSv4 does not list its exports; write the pool from the
server's /etc/exports instead.
`;

export interface NfsExport { path: string; clients: string[] }

/** Parses `showmount -e --no-headers`: "<path> <client>[,<client>...]" per line, path padded. */
export function parseShowmount(text: string): NfsExport[] {
  const out: NfsExport[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\/\S*)\s+(\S.*)$/.exec(line.trimEnd());
    if (!m) continue;
    out.push({ path: m[1]!, clients: m[2]!.split(',').map((c) => c.trim()).filter(Boolean) });
  }
  return out;
}

export async function scanNfs(server: string, runner: Runner = local): Promise<NfsExport[]> {
  checkServer(server);
  // showmount wants a bare IPv6 address, not the bracketed form mount(8) takes.
  const host = server.startsWith('[') ? server.slice(1, -1) : server;
  const r = await runner.run('showmount', ['--exports', '--no-headers', '--', host], { timeoutMs: 30_000 });
  return parseShowmount(r.stdout);
}

export function formatNfsScan(server: string, exports: NfsExport[]): string {
  if (!exports.length) return `${server} lists no exports\n`;
  return table(['EXPORT', 'CLIENTS'], exports.map((e) => [`${server}:${e.path}`, e.clients.join(',')]));
}

export async function scanNfsCommand(rest: string[]): Promise<number> {
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(SCAN_NFS_HELP); return 0; }
  const json = rest.includes('--json');
  const args = rest.filter((a) => a !== '--json');
  if (args.length !== 1 || args[0]!.startsWith('-')) { process.stderr.write(SCAN_NFS_HELP); return 2; }
  const server = args[0]!;
  try {
    checkServer(server);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const exports = await scanNfs(server);
  process.stdout.write(json ? `${JSON.stringify({ server, exports }, null, 2)}\n` : formatNfsScan(server, exports));
  return 0;
}
