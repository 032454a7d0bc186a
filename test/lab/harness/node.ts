// One lab node: a User-Mode Linux kernel started inside the lab's network namespace, and the
// host side of its agent (see ../agent/protocol.ts): exec, spawn and kill inside the node.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import {
  READY_FILE,
  REQUEST_PREFIX,
  RESULT_PREFIX,
  type AgentRequest,
  type AgentResult,
  type ExecResult as AgentExecResult,
} from '../agent/protocol.js';
import { killGroup } from './host.js';
import { AGENT_JS, ARTIFACTS_DIR, INIT_SCRIPT, K8S_CACHE, LAB_BASE, NODE_ENV, REPO_ROOT, SERVICE_SCRIPTS } from './paths.js';
import { DeadlineError, pollUntil } from './poll.js';
import { UML_MODULES_ROOT } from './preflight.js';
import { umlShim } from './umlshim.js';

export class LabError extends Error {
  override name = 'LabError';
}

export interface ExecOptions {
  /** Added to the node's environment (which already has NODE_ENV and the lab's settings). */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to stdin (stdin is /dev/null otherwise). */
  input?: string;
  /** The command is killed (its whole process group) after this. Default 60 s. */
  timeoutMs?: number;
}

export type ExecResult = Omit<AgentExecResult, 'kind' | 'id'> & { node: string; argv: string[] };

export interface SpawnedProcess {
  pid: number;
  /** Host path of its stdout+stderr. */
  logFile: string;
}

/** Everything a node needs to boot, decided by the lab. */
export interface NodeBootPlan {
  name: string;
  memMiB: number;
  /** 192.168.77.x on the lab Ethernet, when the lab has one. */
  ip?: string;
  /** The lab Ethernet: frames as UDP datagrams to a multicast group inside the lab's
   * namespace (UML's mcast transport; QEMU's socket netdev speaks the same). */
  lan?: { group: string; port: number };
  netns: string;
  /** umid=<this> tags every host process of this kernel. */
  umid: string;
  umlDir: string;
  /** Scratch on the host for this node (spool, disks), removed at teardown. */
  runDir: string;
  /** Logs on the host for this node (console, daemons), kept after teardown. */
  artifactsDir: string;
  sharedDir: string;
  kernelRelease: string;
  /** Extra settings for the node's environment. */
  env: Record<string, string>;
}

/** The command (run inside the lab's namespace) that boots a node, and extra environment. */
export type KernelCommand = (plan: NodeBootPlan, labenv: string) => { args: string[]; env?: Record<string, string> };

/** A User-Mode Linux kernel whose root is the host's file system, read-only. */
const umlCommand: KernelCommand = (plan, labenv) => ({
  args: [
    'linux.uml',
    `mem=${plan.memMiB}M`,
    `umid=${plan.umid}`,
    `uml_dir=${plan.umlDir}`,
    // The host's root, read-only: init.sh mounts tmpfs over the paths a node writes.
    'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/', 'ro',
    `init=${INIT_SCRIPT}`,
    `labenv=${labenv}`,
    ...(plan.lan ? [`eth0=mcast,,${plan.lan.group},${plan.lan.port},1`] : []),
    'con=null', 'con0=fd:0,fd:1',
  ],
  env: { LD_PRELOAD: umlShim() },
});

const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** How much longer than a command's own timeout the host waits for the agent's answer. */
const AGENT_GRACE_MS = 15_000;

export class LabNode {
  readonly name: string;
  readonly ip: string | undefined;
  /** This node's iSCSI initiator name (service iscsi-initiator). */
  readonly initiatorIqn: string;
  readonly consoleLog: string;
  /** Host directory with this node's daemon logs. */
  readonly logDir: string;
  /** Host scratch directory of this node (visible inside the node at the same path). */
  readonly runDir: string;
  /** Milliseconds from starting linux.uml to the agent answering. */
  bootMs = 0;
  private readonly spool: string;
  private readonly pgid: number;
  /** On the command line of every host process of this kernel (NUL-terminated argument). */
  private readonly umidArg: string;
  private readonly started = Date.now();
  private exitStatus: string | undefined;
  private seq = 0;

  private constructor(plan: NodeBootPlan, pgid: number, spool: string, consoleLog: string, logDir: string) {
    this.name = plan.name;
    this.ip = plan.ip;
    this.initiatorIqn = initiatorIqn(plan.name);
    this.runDir = plan.runDir;
    this.spool = spool;
    this.pgid = pgid;
    this.umidArg = `umid=${plan.umid}\0`;
    this.consoleLog = consoleLog;
    this.logDir = logDir;
  }

  /** Start the kernel (returns at once; the caller registers the node for teardown, then
   * calls waitForBoot). `kernel` gives the command that boots it (default: User-Mode Linux);
   * whatever it starts must carry `umid=<plan.umid>` as one whole argument, which teardown
   * finds it by. */
  static start(plan: NodeBootPlan, kernel: KernelCommand = umlCommand): LabNode {
    const spool = join(plan.runDir, 'spool');
    const logDir = join(plan.artifactsDir, 'logs');
    const consoleLog = join(plan.artifactsDir, 'console.log');
    mkdirSync(spool, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    const labenv = join(plan.runDir, 'labenv');
    writeFileSync(labenv, labenvFile(plan, spool, logDir));

    const { args, env } = kernel(plan, labenv);
    writeFileSync(consoleLog, '');
    const toConsoleLog = { file: consoleLog, append: true } as const;
    // Its own process group (detached), so teardown can kill the kernel and all its helpers.
    const child = execa('ip', ['netns', 'exec', plan.netns, ...args], {
      detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: toConsoleLog, stderr: toConsoleLog, ...(env ? { env } : {}),
    });
    if (child.pid === undefined) throw new LabError(`node ${plan.name}: could not start ${args[0]}`);
    const node = new LabNode(plan, child.pid, spool, consoleLog, logDir);
    void child.then((r) => {
      node.exitStatus = r.signal ? `killed by ${r.signal}` : `exited with code ${r.exitCode}`;
    });
    return node;
  }

  /** Wait for the node's agent. On failure the node is killed and the error carries the
   * console's tail. */
  async waitForBoot(timeoutMs: number): Promise<void> {
    try {
      await pollUntil(
        () => {
          if (this.exitStatus) throw this.deadError(`did not boot: linux.uml ${this.exitStatus}`);
          return existsSync(join(this.spool, READY_FILE)) ? true : undefined;
        },
        { timeoutMs, what: `node ${this.name} to boot` },
      );
      this.bootMs = Date.now() - this.started;
    } catch (e) {
      this.kill();
      if (e instanceof DeadlineError) throw this.deadError(`did not boot within ${timeoutMs} ms`);
      throw e;
    }
  }

  get alive(): boolean {
    return this.exitStatus === undefined;
  }

  /** Kill the kernel at once (its state is all in memory or in the run dir). */
  kill(): void {
    killGroup(this.pgid, this.umidArg);
  }

  /** Run a command inside the node. Resolves with its output whatever its exit code;
   * rejects only when the node cannot run it (dead node, no such program). */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const res = await this.request(
      { kind: 'exec', id: this.nextId(), argv, env: opts.env, cwd: opts.cwd, input: opts.input, timeoutMs },
      timeoutMs + AGENT_GRACE_MS,
      argv,
    );
    if (res.kind !== 'exec') throw new LabError(`node ${this.name}: unexpected answer ${res.kind}`);
    const { kind: _k, id: _i, ...rest } = res;
    return { ...rest, node: this.name, argv };
  }

  /** Like exec, but rejects unless the command exits 0. */
  async run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0 || r.timedOut) throw new LabError(describeFailure(r));
    return r;
  }

  /** Start a background process in the node; its output goes to a log file on the host. */
  async spawn(argv: string[], opts: { env?: Record<string, string>; cwd?: string; logName: string }): Promise<SpawnedProcess> {
    const logFile = join(this.logDir, opts.logName);
    const res = await this.request(
      { kind: 'spawn', id: this.nextId(), argv, env: opts.env, cwd: opts.cwd, logFile },
      AGENT_GRACE_MS,
      argv,
    );
    if (res.kind !== 'spawn') throw new LabError(`node ${this.name}: unexpected answer ${res.kind}`);
    return { pid: res.pid, logFile };
  }

  /** Signal a spawned process's group. False when it was already gone. */
  async signal(pid: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<boolean> {
    const res = await this.request({ kind: 'kill', id: this.nextId(), pid, signal }, AGENT_GRACE_MS, ['kill', String(pid)]);
    return res.kind === 'kill' && res.delivered;
  }

  /** How a spawned process ended, or undefined while it runs. */
  exited(pid: number): { code: number | null; signal: string | null } | undefined {
    const path = join(this.spool, `exited-${pid}.json`);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { code: number | null; signal: string | null }) : undefined;
  }

  /** The last lines of the node's console. */
  consoleTail(lines = 40): string {
    return tailFile(this.consoleLog, lines);
  }

  /** An error about this node, with its console's tail (and, when the kernel died, what the
   * host's kernel log says about linux.uml processes). */
  deadError(what: string): LabError {
    const host = this.alive ? '' : hostKernelNotes();
    return new LabError(
      `node ${this.name} ${what}\n--- console (${this.consoleLog}), last lines:\n${this.consoleTail()}${host ? `\n--- host kernel log about linux.uml:\n${host}` : ''}`,
    );
  }

  private nextId(): string {
    return `${process.pid}-${++this.seq}`;
  }

  private async request(req: AgentRequest, waitMs: number, argv: string[]): Promise<AgentResult> {
    if (!this.alive) throw this.deadError(`is down (linux.uml ${this.exitStatus}); cannot run ${argv.join(' ')}`);
    const name = `${REQUEST_PREFIX}${req.id}.json`;
    const tmp = join(this.spool, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify(req));
    renameSync(tmp, join(this.spool, name));
    const resultPath = join(this.spool, `${RESULT_PREFIX}${req.id}.json`);
    let res: AgentResult;
    try {
      res = await pollUntil(
        () => {
          if (existsSync(resultPath)) return JSON.parse(readFileSync(resultPath, 'utf8')) as AgentResult;
          if (!this.alive) throw this.deadError(`went down (linux.uml ${this.exitStatus}) while running ${argv.join(' ')}`);
          return undefined;
        },
        { timeoutMs: waitMs, what: `node ${this.name} to answer ${argv.join(' ')}` },
      );
    } catch (e) {
      if (e instanceof DeadlineError) throw this.deadError(`did not answer within ${waitMs} ms for ${argv.join(' ')}`);
      throw e;
    }
    rmSync(resultPath, { force: true });
    if (res.kind === 'error') throw new LabError(`node ${this.name}: ${argv.join(' ')}: ${res.message}`);
    return res;
  }
}

/** The host kernel's last words on UML processes (e.g. "overflowed sigaltstack"), if readable. */
function hostKernelNotes(): string {
  try {
    const log = execaSync('dmesg', [], { reject: false }).stdout;
    return log.split('\n').filter((l) => l.includes('linux.uml')).slice(-5).join('\n');
  } catch {
    return '';
  }
}

export function initiatorIqn(node: string): string {
  return `iqn.2026-11.org.example:${node}`;
}

export function describeFailure(r: ExecResult): string {
  const how = r.timedOut ? `timed out after ${r.durationMs} ms` : r.code === null ? `killed by ${r.signal}` : `exit code ${r.code}`;
  return [
    `node ${r.node}: ${r.argv.join(' ')}: ${how}`,
    ...(r.stdout.trim() ? ['--- stdout:', tailText(r.stdout, 40)] : []),
    ...(r.stderr.trim() ? ['--- stderr:', tailText(r.stderr, 40)] : []),
  ].join('\n');
}

export function tailText(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function tailFile(path: string, lines: number): string {
  try {
    return tailText(readFileSync(path, 'utf8'), lines);
  } catch {
    return `(no ${path})`;
  }
}

/** The lab's host directories, which nodes mount read-write (a nested one is covered). */
export function writableHostDirs(): string[] {
  const dirs = [LAB_BASE, ARTIFACTS_DIR].map((d) => d.replace(/\/+$/, ''));
  return dirs.filter((d, i) => !dirs.some((o, j) => j !== i && (d === o ? j < i : d.startsWith(`${o}/`))));
}

function labenvFile(plan: NodeBootPlan, spool: string, logDir: string): string {
  const settings: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...NODE_ENV,
    LAB_NODE: plan.name,
    LAB_HOSTNAME: plan.name,
    LAB_IP: plan.ip ?? '',
    LAB_INITIATOR_IQN: initiatorIqn(plan.name),
    LAB_ROOT: REPO_ROOT.replace(/\/$/, ''),
    LAB_SERVICES: SERVICE_SCRIPTS,
    LAB_SPOOL: spool,
    LAB_LOG_DIR: logDir,
    LAB_NODE_DIR: plan.runDir,
    LAB_SHARED_DIR: plan.sharedDir,
    LAB_NODE_BIN: process.execPath,
    LAB_AGENT: AGENT_JS,
    LAB_RW_DIRS: writableHostDirs().join(' '),
    LAB_KVER: plan.kernelRelease,
    LAB_UML_MODULES: join(UML_MODULES_ROOT, plan.kernelRelease),
    LAB_K8S_CACHE: K8S_CACHE,
    ...plan.env,
  };
  return Object.entries(settings)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || v.includes("'")) throw new LabError(`bad lab setting ${k}=${v}`);
      return `${k}='${v}'\n`;
    })
    .join('');
}
