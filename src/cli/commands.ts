// The poolcsi command line (started by main.ts).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parsePools, PoolsError } from '../pools/validate.js';
import { VERSION } from '../csi/identity.js';
import { DEFAULT_ENDPOINT, serve, SERVE_HELP, StartError, type Mode } from './serve.js';
import { printable } from './format.js';
import { createLogger, setLogger } from '../observe/log.js';

const HELP = `poolcsi ${VERSION}: a CSI driver for storage pools

Usage: poolcsi <command> [options]

Commands:
  serve                  run the CSI plugin (controller, node or both)
  pools validate FILE    check a pools.yaml; exit 1 with one line per problem
  pools status           every pool: state, capacity, volume count, health notes, identity
  volumes list --pool ID list a pool's volumes on this node (size, owner PVC, origin)
  volumes alloc          create a volume as CreateVolume would (--pv: a static PV for it)
  volumes free ID        delete a volume as DeleteVolume would; refuses while it is in use
  volumes path ID        this node's device or directory of a volume, and its stage state
  volumes info ID        a volume's size, origin, PVC, snapshots, clones, publications
  scan lvm               list this node's LVM volume groups and thin pools
  scan rbd --pool ID     list an rbd pool's images: size, parent, owner, state; and its trash
  registrar              register the driver with the kubelet (plugins_registry socket)
  health                 serve /healthz from the driver's CSI Probe (liveness)
  scan nfs SERVER        list an NFS server's exports and their clients (showmount -e)
  scan zfs               list this node's ZFS pools and datasets with their available space
  scan iscsi --portal H  list an iSCSI portal's targets and their LUNs (size, SCSI id)
  version                print the version

Run "poolcsi <command> --help" for a command's options.
`;

const POOLS_VALIDATE_HELP = `Usage: poolcsi pools validate FILE

Checks a pools file (the pools.yaml key of the poolcsi-pools ConfigMap) against the pool
schema. Prints "ok: N pools" and exits 0, or prints one line per problem, naming the pool
and the field, and exits 1.
`;

async function poolsValidate(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(POOLS_VALIDATE_HELP); return 0; }
  const file = args[0];
  if (!file || args.length > 1) { process.stderr.write(POOLS_VALIDATE_HELP); return 2; }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    process.stderr.write(`${file}: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const pools = parsePools(text).pools;
    process.stdout.write(`ok: ${pools.length} pool${pools.length === 1 ? '' : 's'} (${pools.map((p) => `${p.id}: ${p.type}`).join(', ')})\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof PoolsError)) throw e;
    for (const p of e.problems) process.stderr.write(`${file}: ${p}\n`);
    return 1;
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: 'string' },
      endpoint: { type: 'string' },
      'node-id': { type: 'string' },
      'pools-file': { type: 'string' },
      'pools-configmap': { type: 'string' },
      'metrics-address': { type: 'string' },
      'log-level': { type: 'string' },
      'path-prefix': { type: 'string', multiple: true },
      'max-volumes-per-node': { type: 'string' },
      'drain-seconds': { type: 'string' },
      'agent-listen': { type: 'string' },
      'agent-tls-dir': { type: 'string' },
      agents: { type: 'string' },
      'agent-client-name': { type: 'string', multiple: true },
      'secrets-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(SERVE_HELP); return 0; }
  const mode = values.mode as Mode | undefined;
  if (!mode || !['controller', 'node', 'all'].includes(mode)) throw new UsageError('--mode must be controller, node or all', SERVE_HELP);
  const max = Number(values['max-volumes-per-node'] ?? 0);
  if (!Number.isInteger(max) || max < 0) throw new UsageError('--max-volumes-per-node must be a non-negative integer', SERVE_HELP);
  const drain = Number(values['drain-seconds'] ?? 0);
  if (!/^\d{1,4}$/.test(values['drain-seconds'] ?? '0') || drain > 3600) throw new UsageError('--drain-seconds must be an integer from 0 to 3600', SERVE_HELP);
  const running = await serve({
    mode,
    endpoint: values.endpoint ?? DEFAULT_ENDPOINT,
    ...(values['node-id'] ? { nodeId: values['node-id'] } : {}),
    ...(values['pools-file'] ? { poolsFile: values['pools-file'] } : {}),
    ...(values['pools-configmap'] ? { poolsConfigMap: values['pools-configmap'] } : {}),
    ...(values['metrics-address'] ? { metricsAddress: values['metrics-address'] } : {}),
    ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
    pathPrefixes: values['path-prefix'] ?? [],
    maxVolumesPerNode: max,
    ...(values['agent-listen'] ? { agentListen: values['agent-listen'] } : {}),
    ...(values['agent-tls-dir'] ? { agentTlsDir: values['agent-tls-dir'] } : {}),
    ...(values.agents ? { agents: values.agents } : {}),
    ...(values['agent-client-name']?.length ? { agentClientNames: values['agent-client-name'] } : {}),
    ...(values['secrets-dir'] ? { secretsDir: values['secrets-dir'] } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    ...(drain > 0 ? { drainMs: drain * 1000 } : {}),
  });
  await new Promise<void>((resolve) => {
    const stop = () => { void running.stop().then(resolve); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

class UsageError extends Error {
  constructor(message: string, readonly help: string) { super(message); }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // The admin commands run the driver's handlers in this process: their log lines are for
  // trouble only (serve sets its own logger).
  if (cmd !== 'serve') setLogger(createLogger({ level: process.env.POOLCSI_LOG_LEVEL ?? 'warn' }));
  // Each command's module is loaded when it runs: `serve` keeps its memory for serving.
  try {
    switch (cmd) {
      case 'serve': return await serveCommand(rest);
      case 'pools':
        if (rest[0] === 'validate') return await poolsValidate(rest.slice(1));
        if (rest[0] === 'status') return await (await import('./pools-status.js')).poolsStatus(rest.slice(1));
        process.stderr.write('Usage: poolcsi pools validate FILE | poolcsi pools status [options]\n');
        return 2;
      case 'volumes': return await (await import('./volumes.js')).volumesCommand(rest);
      case 'registrar': return await (await import('./registrar.js')).registrarCommand(rest);
      case 'health': return await (await import('./health.js')).healthCommand(rest);
      case 'scan': return await (await import('./scan.js')).scanCommand(rest);
      case 'version': case '--version': process.stdout.write(`${VERSION}\n`); return 0;
      case undefined: case 'help': case '--help': case '-h': process.stdout.write(HELP); return cmd ? 0 : 2;
      default:
        process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    // serve logged it already, as a JSON line like everything else it logs.
    if (e instanceof StartError) return 1;
    const { CliUsage } = await import('./volume-admin.js');
    if (e instanceof CliUsage) { process.stderr.write(`poolcsi: ${e.message}\n\n${e.help}`); return 2; }
    if (e instanceof UsageError) { process.stderr.write(`poolcsi: ${e.message}\n\n${e.help}`); return 2; }
    if (String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) { process.stderr.write(`poolcsi: ${(e as Error).message}\n`); return 2; }
    process.stderr.write(`poolcsi: ${printable(oneLine(e))}\n`);
    return 1;
  }
}

/** A failure as one line (CSI and storage errors may carry several). */
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
