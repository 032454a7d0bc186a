// A lab: a private network namespace, one or more UML nodes in it (optionally on one virtual
// Ethernet), and the services each node was asked for. startLab() either returns a lab with
// everything up or tears down what it started and rejects with the reason; Lab.close()
// always tears down, and checks that nothing was left on the host.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createNetns } from './host.js';
import { LabError, LabNode, tailFile, tailText, type KernelCommand, type NodeBootPlan } from './node.js';
import { ARTIFACTS_DIR, SERVICE_SCRIPTS } from './paths.js';
import { preflight, umlKernelRelease } from './preflight.js';
import { BASE_REQUIREMENTS, type Requirement } from './requirements.js';
import { SERVICES, type ServiceName } from './services.js';
import { destroyRun, newRunRecord, registerRun, sweepStaleRuns, type RunRecord } from './teardown.js';

export interface NodeSpec {
  name: string;
  /** Started in this order once the node is up. */
  services?: ServiceName[];
  /** Default 1024 (plenty: all services together use ~150 MiB). */
  memMiB?: number;
  /** Another kind of kernel than User-Mode Linux (the ZFS guest); default UML. */
  guest?: GuestKind;
}

/** A node booted by something else than UML, e.g. QEMU (zfsguest.ts). It joins the lab's
 * namespace, network and services like a UML node, and runs the same agent. */
export interface GuestKind {
  /** Readies what it boots (may build an image: minutes) and returns how to boot it. */
  prepare(plan: NodeBootPlan): Promise<{ command: KernelCommand; kernelRelease: string; timings: Timing[] }>;
  requirements: Requirement[];
  bootTimeoutMs: number;
}

export interface LabSpec {
  /** Names the artifacts folder (logs kept after the run); one lab of a name at a time. */
  name: string;
  nodes: NodeSpec[];
  /** One virtual Ethernet for all nodes: node i (from 0) gets 192.168.77.(i+1)/24. */
  network?: boolean;
  /** Default 90 s (several kernels booting on two cores). */
  bootTimeoutMs?: number;
  /** Extra settings in every node's environment, e.g. LAB_LVM_VG_SIZE=32G. */
  env?: Record<string, string>;
  /** Shorter or longer deadlines for services than the catalogue's. */
  serviceTimeoutMs?: Partial<Record<ServiceName, number>>;
  /** More host requirements, checked by the preflight (e.g. csi-sanity). */
  requirements?: Requirement[];
  files?: { path: string; fix: string }[];
}

export interface Timing {
  /** "boot <node>" or "<service> on <node>". */
  what: string;
  ms: number;
}

export const LAB_SUBNET = '192.168.77';
const DEFAULT_BOOT_TIMEOUT_MS = 90_000;

export class Lab {
  readonly timings: Timing[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly run: RunRecord,
    readonly nodes: LabNode[],
    /** Host path of the logs kept after the run. */
    readonly artifactsDir: string,
    /** Private key that logs in as root on nodes running sshd (host path, visible in nodes). */
    readonly sshKey: string,
  ) {}

  node(name: string): LabNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new LabError(`lab ${this.name} has no node ${name}`);
    return node;
  }

  /** One line per measured step, e.g. "boot storage: 4.2 s". */
  report(): string[] {
    return this.timings.map((t) => `${this.name}: ${t.what}: ${(t.ms / 1000).toFixed(1)} s`);
  }

  /** Kill every node, delete the namespace and the run's scratch. Rejects if anything of the
   * run is still on the host afterwards. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const left = destroyRun(this.run, () => this.nodes.forEach((n) => n.kill()));
    if (left.length) throw new LabError(`lab ${this.name}: teardown left ${left.join('; ')}`);
  }
}

/** Everything the preflight must check for this spec. */
export function labRequirements(spec: Pick<LabSpec, 'nodes' | 'requirements'>): Requirement[] {
  // A guest's services run on its own image, not on the host's programs.
  const services = new Set(spec.nodes.filter((n) => !n.guest).flatMap((n) => n.services ?? []));
  return [
    ...BASE_REQUIREMENTS, ...[...services].flatMap((s) => SERVICES[s].requirements),
    ...spec.nodes.flatMap((n) => n.guest?.requirements ?? []), ...(spec.requirements ?? []),
  ];
}

/** Files the services of this spec need that no package brings (e.g. kube-apiserver). */
export function labFiles(spec: Pick<LabSpec, 'nodes'>): { path: string; fix: string }[] {
  const services = new Set(spec.nodes.filter((n) => !n.guest).flatMap((n) => n.services ?? []));
  return [...services].flatMap((s) => SERVICES[s].files?.() ?? []);
}

export async function startLab(spec: LabSpec): Promise<Lab> {
  // Node names become host names, umids and IQN suffixes.
  const names = spec.nodes.map((n) => n.name);
  const bad = names.filter((n, i) => !/^[a-z][a-z0-9-]{0,30}$/.test(n) || names.indexOf(n) !== i);
  if (bad.length || !names.length) throw new LabError(`lab ${spec.name}: bad or repeated node names: ${bad.join(', ') || '(none)'}`);
  preflight({ requirements: labRequirements(spec), files: [...labFiles(spec), ...(spec.files ?? [])] });
  sweepStaleRuns();

  const run = newRunRecord();
  const nodes: LabNode[] = [];
  const killNodes = (): void => nodes.forEach((n) => n.kill());
  registerRun(run, killNodes);
  try {
    return await startNodes(spec, run, nodes);
  } catch (e) {
    const left = destroyRun(run, killNodes);
    if (left.length && e instanceof Error) e.message += `\n(teardown also left ${left.join('; ')})`;
    throw e;
  }
}

async function startNodes(spec: LabSpec, run: RunRecord, nodes: LabNode[]): Promise<Lab> {
  const artifactsDir = join(ARTIFACTS_DIR, spec.name);
  rmSync(artifactsDir, { recursive: true, force: true });
  mkdirSync(artifactsDir, { recursive: true });
  const sharedDir = join(run.runDir, 'shared');
  mkdirSync(sharedDir, { recursive: true });

  const sshKey = join(sharedDir, 'ssh', 'id_ed25519');
  if (spec.nodes.some((n) => n.services?.includes('sshd'))) {
    mkdirSync(join(sharedDir, 'ssh'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `poolcsi-lab-${run.runId}`, '-f', sshKey]);
  }

  await createNetns(run.netns);
  const kernelRelease = umlKernelRelease()!;
  // Any group works inside a private namespace; a random one keeps runs apart regardless.
  const rand = (n: number): number => Math.floor(Math.random() * n);
  const lan = spec.network ? { group: `239.77.${rand(254) + 1}.${rand(254) + 1}`, port: 20000 + rand(10000) } : undefined;

  const plans: NodeBootPlan[] = spec.nodes.map((n, i) => ({
    name: n.name,
    memMiB: n.memMiB ?? 1024,
    ip: spec.network ? `${LAB_SUBNET}.${i + 1}` : undefined,
    lan,
    netns: run.netns,
    umid: `${run.tag.slice('umid='.length)}${n.name}`,
    umlDir: join(run.runDir, 'uml'),
    runDir: join(run.runDir, 'nodes', n.name),
    artifactsDir: join(artifactsDir, n.name),
    sharedDir,
    kernelRelease,
    env: spec.env ?? {},
  }));

  const lab = new Lab(spec.name, run, nodes, artifactsDir, sshKey);
  const bootTimeoutMs = spec.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
  const killAll = (): void => nodes.forEach((n) => n.kill());
  await allOrFirstError(
    killAll,
    plans.map(async (plan, i) => {
      const guest = spec.nodes[i]!.guest;
      let command: KernelCommand | undefined;
      if (guest) {
        const ready = await guest.prepare(plan);
        plan.kernelRelease = ready.kernelRelease;
        command = ready.command;
        lab.timings.push(...ready.timings);
      }
      const node = LabNode.start(plan, command);
      nodes.push(node); // from now on, teardown kills it
      await node.waitForBoot(guest?.bootTimeoutMs ?? bootTimeoutMs);
      lab.timings.push({ what: `boot ${node.name}`, ms: node.bootMs });
    }),
  );
  // Nodes in parallel (a service may wait for one on another node, e.g. ceph-client), each
  // node's services one after the other, in the order asked: a node has one CPU, so running
  // them at once saves next to nothing and blurs the per-service times.
  await allOrFirstError(
    killAll,
    spec.nodes.map(async (n) => {
      for (const service of n.services ?? []) {
        const ms = await startService(lab.node(n.name), service, spec.serviceTimeoutMs?.[service]);
        lab.timings.push({ what: `${service} on ${n.name}`, ms });
      }
    }),
  );
  return lab;
}

/** Run a service's script in the node; fail with its output, its daemons' logs and the
 * node's console when it does not come up in time. */
export async function startService(node: LabNode, service: ServiceName, timeoutMs?: number): Promise<number> {
  const def = SERVICES[service];
  const limit = timeoutMs ?? def.timeoutMs;
  const r = await node.exec(['sh', join(SERVICE_SCRIPTS, `${service}.sh`)], { timeoutMs: limit });
  if (r.code === 0 && !r.timedOut) return r.durationMs;
  const why = r.timedOut ? `did not come up within ${limit} ms` : `failed (exit code ${r.code ?? r.signal})`;
  throw new LabError(
    [
      `service ${service} on node ${node.name} ${why}`,
      ...(r.stdout.trim() ? ['--- output:', tailText(r.stdout, 30)] : []),
      ...(r.stderr.trim() ? ['--- errors:', tailText(r.stderr, 40)] : []),
      ...def.logs.flatMap((log) => [`--- ${join(node.logDir, log)}, last lines:`, tailFile(join(node.logDir, log), 30)]),
      `--- console (${node.consoleLog}), last lines:`,
      node.consoleTail(20),
    ].join('\n'),
  );
}

/** Wait for all. On the first failure call onFailure (which kills the nodes, so the others
 * end at once), and reject with that first failure once every promise settled (so teardown
 * never races a boot still in progress). */
async function allOrFirstError(onFailure: () => void, promises: Promise<void>[]): Promise<void> {
  let first: { error: unknown } | undefined;
  await Promise.allSettled(
    promises.map((p) =>
      p.catch((error: unknown) => {
        if (!first) {
          first = { error };
          onFailure();
        }
      }),
    ),
  );
  if (first) throw first.error;
}

export interface StorageSetOptions {
  /** Services of the storage host (node "storage", 192.168.77.1). */
  storage: ServiceName[];
  /** Services of each worker ("worker-1", "worker-2", ...: 192.168.77.2, .3, ...). */
  workers: ServiceName[];
  /** Default 2. */
  workerCount?: number;
  env?: Record<string, string>;
}

/** The node set of shared-storage tests: one storage host and workers on one Ethernet. */
export function storageSet(name: string, o: StorageSetOptions): LabSpec {
  const workers = Array.from({ length: o.workerCount ?? 2 }, (_, i): NodeSpec => ({ name: `worker-${i + 1}`, services: o.workers, memMiB: 768 }));
  return { name, network: true, env: o.env, nodes: [{ name: 'storage', services: o.storage, memMiB: 1024 }, ...workers] };
}

/** Start a lab, run fn, and always close the lab. */
export async function withLab<T>(spec: LabSpec, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab(spec);
  try {
    return await fn(lab);
  } finally {
    await lab.close();
  }
}
