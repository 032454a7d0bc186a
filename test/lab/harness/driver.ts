// `poolcsi serve` inside a lab node: started with a pools file, ready when its socket is,
// stopped the way Kubernetes stops it (SIGTERM, then SIGKILL after a grace period).
import { join } from 'node:path';
import { LabError, tailFile, type LabNode } from './node.js';
import { NODE_ENV, REPO_ROOT } from './paths.js';
import { pollUntil } from './poll.js';

export const DRIVER_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.cjs');
export const CSI_CALL = join(REPO_ROOT, 'dist', 'test', 'lab', 'tools', 'csi-call.js');

export interface DriverOptions {
  nodeId: string;
  poolsFile: string;
  /** Default /run/lab/csi/csi.sock. */
  socket?: string;
  /** Default --mode all. */
  mode?: 'all' | 'controller' | 'node';
  args?: string[];
  env?: Record<string, string>;
  logName?: string;
  /** --state-dir (the controller's pool memory); default node-private, one per socket name. */
  stateDir?: string;
  /** How long the socket may take to appear. Default 30 s (the ZFS guest, emulated, needs more). */
  readyTimeoutMs?: number;
}

export interface NodeDriver {
  pid: number;
  socket: string;
  logFile: string;
  /** The error to report when the driver has exited, or undefined while it runs. */
  down(): LabError | undefined;
  /** One CSI call through test/lab/tools/csi-call.js inside the node. */
  call(method: string, request: object): Promise<{ ok: true; response: any } | { ok: false; code: number; details: string }>;
  /** Stops it as Kubernetes does: SIGTERM, then SIGKILL after 15 s. Says which signal ended it
   * (a driver that outlives SIGTERM would hold a pod's termination for its grace period). */
  stop(): Promise<'SIGTERM' | 'SIGKILL'>;
}

export async function startDriver(node: LabNode, o: DriverOptions): Promise<NodeDriver> {
  const socket = o.socket ?? '/run/lab/csi/csi.sock';
  await node.run(['mkdir', '-p', socket.slice(0, socket.lastIndexOf('/'))]);
  // A socket left by a killed driver would look ready before the new one listens.
  await node.run(['rm', '-f', socket]);
  // /run is a node-private tmpfs: the memory outlives a driver restart, not the lab.
  const stateDir = o.stateDir ?? `/run/lab/state/${socket.slice(socket.lastIndexOf('/') + 1).replace(/\.sock$/, '')}`;
  const proc = await node.spawn(
    [process.execPath, DRIVER_MAIN, 'serve', '--mode', o.mode ?? 'all', '--endpoint', `unix://${socket}`,
      '--node-id', o.nodeId, '--pools-file', o.poolsFile, '--state-dir', stateDir, '--log-level', 'debug', ...(o.args ?? [])],
    { env: { ...NODE_ENV, ...o.env }, logName: o.logName ?? 'driver.log' },
  );
  const down = (): LabError | undefined => {
    const exit = node.exited(proc.pid);
    if (!exit) return undefined;
    return new LabError(`the driver exited (${exit.signal ?? `code ${exit.code}`})\n--- ${proc.logFile}, last lines:\n${tailFile(proc.logFile, 40)}`);
  };
  await pollUntil(
    async () => {
      const d = down();
      if (d) throw d;
      return (await node.exec(['test', '-S', socket])).code === 0 ? true : undefined;
    },
    { timeoutMs: o.readyTimeoutMs ?? 30_000, what: `the driver's socket ${socket} (log: ${proc.logFile})`, intervalMs: 100 },
  );
  let stopped: Promise<'SIGTERM' | 'SIGKILL'> | undefined;
  return {
    pid: proc.pid,
    socket,
    logFile: proc.logFile,
    down,
    async call(method, request) {
      // On stdin: requests may carry CSI secrets, which must not sit in a command line.
      const r = await node.exec([process.execPath, CSI_CALL, socket, method, '-'], { timeoutMs: 120_000, input: JSON.stringify(request) });
      const out = JSON.parse(r.stdout || '{}') as { response?: unknown; error?: { code: number; details: string } };
      if (r.code === 0) return { ok: true, response: out.response };
      if (out.error) return { ok: false, ...out.error };
      throw new LabError(`csi-call ${method} failed: ${r.stderr}`);
    },
    stop() {
      stopped ??= (async () => {
        await node.signal(proc.pid, 'SIGTERM');
        try {
          await pollUntil(() => (node.exited(proc.pid) ? true : undefined), { timeoutMs: 15_000, what: 'the driver to stop' });
          return 'SIGTERM' as const;
        } catch {
          await node.signal(proc.pid, 'SIGKILL');
          return 'SIGKILL' as const;
        }
      })();
      return stopped;
    },
  };
}
