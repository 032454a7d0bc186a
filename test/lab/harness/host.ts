// What a lab run touches on the host, and how to find and remove it: UML processes (tagged
// by the umid= on their command line, which every process of one UML kernel shares),
// network namespaces, and the host's mounts and loop devices (which the lab must not change).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execa, execaSync } from 'execa';

/** Pids of the linux.uml processes with an argument starting with `tag` (e.g. "umid=plab-x-"):
 * every host process of a UML kernel is a fork of linux.uml and keeps its command line. */
export function taggedProcesses(tag: string): number[] {
  return umlProcesses()
    .filter((p) => p.args.some((a) => a.startsWith(tag)))
    .map((p) => p.pid);
}

/** The programs that run lab nodes: User-Mode Linux, and QEMU for the ZFS guest. */
const LAB_KERNELS = ['linux.uml', 'qemu-system-x86_64'];

export function umlProcesses(): { pid: number; args: string[] }[] {
  const found: { pid: number; args: string[] }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (LAB_KERNELS.includes(args[0]?.split('/').at(-1) ?? '')) found.push({ pid: Number(entry), args });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export function killTagged(tag: string): void {
  for (const pid of taggedProcesses(tag)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kill a process group, but only while its leader still carries `tag` on its command line:
 * once a kernel has exited, its pid (and group id) may belong to someone else's process. */
export function killGroup(pgid: number, tag: string): void {
  try {
    if (!readFileSync(`/proc/${pgid}/cmdline`, 'utf8').includes(tag)) return;
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Process start time (clock ticks since boot), to tell a live owner from a reused pid. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

// Network namespaces ------------------------------------------------------------------------

export function listNetns(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns') : [];
}

/** A namespace whose only interface is lo, with multicast on and routed to lo: UML's mcast
 * Ethernet works inside it and no packet can leave it. */
export async function createNetns(name: string): Promise<void> {
  await execa('ip', ['netns', 'add', name]);
  try {
    await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up', 'multicast', 'on']);
    await execa('ip', ['-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  } catch (e) {
    deleteNetnsSync(name);
    throw e;
  }
}

export function deleteNetnsSync(name: string): void {
  if (!listNetns().includes(name)) return;
  try {
    execaSync('ip', ['netns', 'delete', name]);
  } catch {
    // reported by the leftover check
  }
}

// Host state the lab must leave as it found it ---------------------------------------------

export interface HostSnapshot {
  mounts: string[];
  loops: string[];
}

/** Mount points and loop devices with a backing file. Network namespaces are left out (they
 * are checked by name; /run/netns itself becomes a mount the first time `ip netns` runs, and
 * other test processes' labs come and go). */
/** Mounts and loop files of the k8s lane (test/k8s), which CI runs beside the lab: its
 * kubelet's, containerd's and its pool's come and go on their own schedule and are checked by
 * that lane's teardown. */
function k8sLaneMount(point: string): boolean {
  const state = process.env.POOLCSI_K8S_STATE ?? '/var/tmp/poolcsi-k8s';
  return [state, '/var/lib/kubelet'].some((dir) => point === dir || point.startsWith(`${dir}/`));
}

export function hostSnapshot(): HostSnapshot {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l && !/^\/run\/netns(\/|$)/.test(l.split(' ')[1] ?? '') && !k8sLaneMount(l.split(' ')[1] ?? ''))
    .sort();
  const loops: string[] = [];
  if (existsSync('/sys/block')) {
    for (const dev of readdirSync('/sys/block')) {
      if (!dev.startsWith('loop')) continue;
      try {
        const backing = readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8').trim();
        if (!k8sLaneMount(backing)) loops.push(`${dev} ${backing}`);
      } catch {
        // unbound loop device
      }
    }
  }
  return { mounts, loops: loops.sort() };
}

/** What changed between two snapshots, as readable lines (empty when nothing did). */
export function snapshotDiff(before: HostSnapshot, after: HostSnapshot): string[] {
  const diff: string[] = [];
  for (const key of ['mounts', 'loops'] as const) {
    const was = new Set(before[key]);
    const now = new Set(after[key]);
    for (const x of now) if (!was.has(x)) diff.push(`new ${key.slice(0, -1)}: ${x}`);
    for (const x of was) if (!now.has(x)) diff.push(`missing ${key.slice(0, -1)}: ${x}`);
  }
  return diff;
}
