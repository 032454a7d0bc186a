// The ZFS guest: a Debian kernel with OpenZFS under QEMU (TCG), a lab node of its own kind next
// to the User-Mode Linux nodes (whose kernel has no ZFS). The image is built from Debian
// packages by test/lab/zfs/build-image.sh and cached by content; the guest boots it with the
// root disk in snapshot mode (every guest starts from the same pristine image), sees the host's
// root file system read-only over 9p (node, the repository, csi-sanity) and the lab's
// directories read-write, and runs the same lab agent as a UML node, so LabNode's exec, run,
// spawn and signal work unchanged. No network device: nothing in the guest reaches anything.
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createNetns } from './host.js';
import { Lab } from './lab.js';
import { LabError, LabNode, tailText, writableHostDirs, type KernelCommand, type NodeBootPlan } from './node.js';
import { ARTIFACTS_DIR, REPO_ROOT } from './paths.js';
import { preflight } from './preflight.js';
import { req } from './requirements.js';
import { CSI_SANITY } from './sanity.js';
import { destroyRun, newRunRecord, registerRun, sweepStaleRuns } from './teardown.js';

export const ZFS_IMAGE_SCRIPT = join(REPO_ROOT, 'test', 'lab', 'zfs', 'build-image.sh');
export const ZFS_INITRD_SCRIPT = join(REPO_ROOT, 'test', 'lab', 'zfs', 'build-initrd.sh');
export const ZFS_GUEST_INIT = join(REPO_ROOT, 'test', 'lab', 'zfs', 'guest-init.sh');
export const ZFS_CACHE = process.env.POOLCSI_ZFS_CACHE ?? '/var/tmp/poolcsi-cache/zfs';
const QEMU = 'qemu-system-x86_64';

export interface ZfsImage {
  dir: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  /** The manifest's lines (kernel, zfs version, build time). */
  manifest: Record<string, string>;
  /** How long finding (or building) it took. */
  ms: number;
}

/** Finds the cached image or builds it (about 20 CPU-minutes cold, seconds warm), and its initramfs. */
export async function zfsImage(opts: { timeoutMs?: number; logFile?: string } = {}): Promise<ZfsImage> {
  const t0 = Date.now();
  const r = await execa('nice', ['-n', '15', 'bash', ZFS_IMAGE_SCRIPT], {
    reject: false, timeout: opts.timeoutMs ?? 90 * 60_000, stdin: 'ignore', env: { POOLCSI_ZFS_CACHE: ZFS_CACHE },
    ...(opts.logFile ? { stderr: { file: opts.logFile } } : {}),
  });
  const dir = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.exitCode !== 0 || !dir.startsWith('/') || !existsSync(join(dir, 'manifest'))) {
    const err = opts.logFile ? tailText(readFileSync(opts.logFile, 'utf8'), 30) : String(r.stderr ?? '');
    throw new LabError(`the ZFS guest image could not be built (${r.timedOut ? 'timed out' : `exit code ${r.exitCode}`}):\n${err}`);
  }
  const initrd = await execa('bash', [ZFS_INITRD_SCRIPT, dir], { reject: false, stdin: 'ignore' });
  if (initrd.exitCode !== 0) throw new LabError(`the ZFS guest's initramfs could not be built: ${initrd.stderr}`);
  const manifest = Object.fromEntries(readFileSync(join(dir, 'manifest'), 'utf8').split('\n').filter((l) => /^[a-z_]+=/.test(l)).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
  return { dir, kernel: join(dir, 'vmlinuz'), initrd: initrd.stdout.trim(), rootfs: join(dir, 'rootfs.ext4'), manifest, ms: Date.now() - t0 };
}

export interface ZfsGuestSpec {
  /** Artifacts folder and node name. */
  name: string;
  /** Default 2048: the driver, csi-sanity and the ARC (capped at 256 MiB). */
  memMiB?: number;
  /** Data disk (vdb) size in bytes, a sparse file in the run's directory. Default 4 GiB. */
  diskBytes?: number;
  /** zpool created on the data disk, with `dataset` in it. Default tank, tank/k8s. */
  zpool?: string;
  dataset?: string;
  /** TCG boots in 20-160 s depending on the host's load; default 420 s. */
  bootTimeoutMs?: number;
  /** Virtual CPUs (QEMU runs one thread each). Default 2. */
  cpus?: number;
}

export interface ZfsLab {
  lab: Lab;
  guest: LabNode;
  image: ZfsImage;
  zpool: string;
  dataset: string;
}

/** Host paths the guest sees at the same place: the repository, its node_modules, node, csi-sanity. */
function hostPaths(): string[] {
  const repo = REPO_ROOT.replace(/\/$/, '');
  const paths = [repo, process.execPath];
  const modules = join(repo, 'node_modules');
  if (existsSync(modules)) {
    const real = realpathSync(modules);
    if (!real.startsWith(`${repo}/`)) paths.push(real);
  }
  if (existsSync(CSI_SANITY)) paths.push(realpathSync(CSI_SANITY));
  for (const p of paths) if (/\s|'/.test(p)) throw new LabError(`host path ${p} has a space or quote; the guest cannot mount it`);
  return paths;
}

function qemuCommand(image: ZfsImage, disk: string, cpus: number): KernelCommand {
  return (plan: NodeBootPlan, labenv: string) => ({
    args: [
      QEMU,
      // A search directory QEMU never finds anything in: it only carries the run's tag as one
      // whole argument, which is how teardown finds lab kernels (like UML's umid=).
      '-L', `umid=${plan.umid}`,
      '-machine', 'q35', '-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max', '-smp', String(cpus),
      '-m', String(plan.memMiB), '-nographic', '-no-reboot', '-nic', 'none',
      '-kernel', image.kernel, '-initrd', image.initrd,
      '-append', `console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off labinit=${ZFS_GUEST_INIT} labenv=${labenv}`,
      // The image stays pristine: writes go to a temporary overlay (in TMPDIR, the run's dir).
      '-drive', `file=${image.rootfs},if=virtio,format=raw,snapshot=on,cache=unsafe`,
      '-drive', `file=${disk},if=virtio,format=raw,cache=unsafe,discard=unmap`,
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
      ...writableHostDirs().flatMap((d, i) => ['-virtfs', `local,path=${d},mount_tag=labrw${i},security_model=passthrough,multidevs=remap`]),
    ],
    env: { ...process.env as Record<string, string>, TMPDIR: plan.runDir },
  });
}

/** Boots one ZFS guest with a zpool on a sparse data disk. Rejects (having torn everything
 * down) with the console's tail when it does not come up. */
export async function startZfsGuest(spec: ZfsGuestSpec): Promise<ZfsLab> {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(spec.name)) throw new LabError(`bad guest name ${spec.name}`);
  preflight({
    requirements: [...req('qemu-system-x86', QEMU), ...req('mmdebstrap', 'mmdebstrap'), ...req('cpio', 'cpio'), ...req('busybox-static', 'busybox'), ...req('e2fsprogs', 'debugfs'), ...req('iproute2', 'ip')],
  });
  const artifactsDir = join(ARTIFACTS_DIR, spec.name);
  rmSync(artifactsDir, { recursive: true, force: true });
  mkdirSync(artifactsDir, { recursive: true });
  const image = await zfsImage({ logFile: join(artifactsDir, 'image-build.log') });
  sweepStaleRuns();
  const run = newRunRecord();
  const nodes: LabNode[] = [];
  const killNodes = (): void => nodes.forEach((n) => n.kill());
  registerRun(run, killNodes);
  try {
    await createNetns(run.netns);
    const runDir = join(run.runDir, 'nodes', spec.name);
    mkdirSync(runDir, { recursive: true });
    const disk = join(runDir, 'zfs-data.img');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, spec.diskBytes ?? 4 * 1024 ** 3);
    closeSync(fd);
    const plan: NodeBootPlan = {
      name: spec.name, memMiB: spec.memMiB ?? 2048, netns: run.netns,
      umid: `${run.tag.slice('umid='.length)}${spec.name}`, umlDir: join(run.runDir, 'uml'), runDir,
      artifactsDir: join(artifactsDir, spec.name), sharedDir: join(run.runDir, 'shared'), kernelRelease: image.manifest.kernel ?? '',
      env: { LAB_HOST_PATHS: hostPaths().join(' '), LAB_ZFS_ARC_MAX: String(256 * 1024 ** 2) },
    };
    mkdirSync(plan.sharedDir, { recursive: true });
    const guest = LabNode.start(plan, qemuCommand(image, disk, spec.cpus ?? 2));
    nodes.push(guest);
    await guest.waitForBoot(spec.bootTimeoutMs ?? 420_000);
    const lab = new Lab(spec.name, run, nodes, artifactsDir, '');
    lab.timings.push({ what: `image ${image.manifest.kernel} zfs ${image.manifest.zfs}`, ms: image.ms }, { what: `boot ${spec.name}`, ms: guest.bootMs });
    const zpool = spec.zpool ?? 'tank';
    const dataset = spec.dataset ?? `${zpool}/k8s`;
    const t0 = Date.now();
    await guest.run(['zpool', 'create', '-f', '-o', 'ashift=12', '-O', 'mountpoint=/' + zpool, zpool, '/dev/vdb'], { timeoutMs: 120_000 });
    await guest.run(['zfs', 'create', '-p', dataset], { timeoutMs: 60_000 });
    lab.timings.push({ what: `zpool ${zpool} on ${spec.name}`, ms: Date.now() - t0 });
    return { lab, guest, image, zpool, dataset };
  } catch (e) {
    const left = destroyRun(run, killNodes);
    if (left.length && e instanceof Error) e.message += `\n(teardown also left ${left.join('; ')})`;
    throw e;
  }
}

/** Start a guest, run fn, always tear down. */
export async function withZfsGuest<T>(spec: ZfsGuestSpec, fn: (z: ZfsLab) => Promise<T>): Promise<T> {
  const z = await startZfsGuest(spec);
  try {
    return await fn(z);
  } finally {
    await z.lab.close();
  }
}
