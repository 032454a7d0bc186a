// The ZFS guest: a Debian kernel with OpenZFS under QEMU (TCG), a lab node of its own kind next
// to the User-Mode Linux nodes (whose kernel has no ZFS). The image is built from Debian
// packages by test/lab/zfs/build-image.sh and cached by content; the guest boots it with the
// root disk in snapshot mode (every guest starts from the same pristine image), sees the host's
// root file system read-only over 9p (node, the repository, csi-sanity) and the lab's
// directories read-write, and runs the same lab agent as a UML node, so LabNode's exec, run,
// spawn and signal work unchanged. It is a node kind of startLab (zfsGuest()); in a lab with a
// network it joins the lab Ethernet beside the UML nodes, else it has no network device.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { startLab, type GuestKind, type Lab } from './lab.js';
import { LabError, tailText, writableHostDirs, type KernelCommand, type LabNode, type NodeBootPlan } from './node.js';
import { REPO_ROOT } from './paths.js';
import type { ServiceName } from './services.js';
import { req } from './requirements.js';
import { CSI_SANITY } from './sanity.js';

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

export interface ZfsGuestSpec extends ZfsGuestKindSpec {
  /** Artifacts folder and node name. */
  name: string;
  /** Default 2048: the driver, csi-sanity and the ARC (capped at 256 MiB). */
  memMiB?: number;
  /** zpool created on the data disk, with `dataset` in it. Default tank, tank/k8s. */
  zpool?: string;
  dataset?: string;
  /** Lab services started in the guest (e.g. iscsi-target). */
  services?: ServiceName[];
}

export interface ZfsLab {
  lab: Lab;
  guest: LabNode;
  image: ZfsImage;
  zpool: string;
  dataset: string;
}

const REPO = REPO_ROOT.replace(/\/$/, '');

/** Host paths the guest sees at the same place through the host's root: node, csi-sanity, a
 * node_modules outside the repository. The repository has a share of its own (qemuCommand). */
function hostPaths(): string[] {
  const repo = REPO;
  const paths = [process.execPath];
  const modules = join(repo, 'node_modules');
  if (existsSync(modules)) {
    const real = realpathSync(modules);
    if (!real.startsWith(`${repo}/`)) paths.push(real);
  }
  if (existsSync(CSI_SANITY)) paths.push(realpathSync(CSI_SANITY));
  for (const p of [repo, ...paths]) if (/\s|'/.test(p)) throw new LabError(`host path ${p} has a space or quote; the guest cannot mount it`);
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
      '-m', String(plan.memMiB), '-nographic', '-no-reboot',
      // On the lab Ethernet: the UML nodes' multicast group, inside the lab's namespace (whose
      // only interface is lo), so no frame can leave it.
      ...(plan.lan
        ? ['-netdev', `socket,id=lan,mcast=${plan.lan.group}:${plan.lan.port},localaddr=127.0.0.1`, '-device', `virtio-net-pci,netdev=lan,mac=${macOf(plan.name)}`]
        : ['-nic', 'none']),
      '-kernel', image.kernel, '-initrd', image.initrd,
      '-append', `console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off labinit=${ZFS_GUEST_INIT} labenv=${labenv}`,
      // The image stays pristine: writes go to a temporary overlay (in TMPDIR, the run's dir).
      '-drive', `file=${image.rootfs},if=virtio,format=raw,snapshot=on,cache=unsafe`,
      '-drive', `file=${disk},if=virtio,format=raw,cache=unsafe,discard=unmap`,
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
      // The repository on a share of its own, which the guest mounts with cache=loose: a driver
      // start reads a few hundred modules, 23 s over the uncached host share under emulation and
      // 7 s once they are in the guest's page cache (nothing writes the repository during a run).
      '-virtfs', `local,path=${REPO},mount_tag=labrepo,security_model=none,readonly=on,multidevs=remap`,
      ...writableHostDirs().flatMap((d, i) => ['-virtfs', `local,path=${d},mount_tag=labrw${i},security_model=passthrough,multidevs=remap`]),
    ],
    env: { ...process.env as Record<string, string>, TMPDIR: plan.runDir },
  });
}

/** A locally administered MAC from the node's name (UML picks its own from the IP). */
function macOf(name: string): string {
  const h = createHash('sha256').update(name).digest();
  return ['52', '54', ...[0, 1, 2, 3].map((i) => h[i]!.toString(16).padStart(2, '0'))].join(':');
}

export interface ZfsGuestKindSpec {
  /** Data disk (vdb) size in bytes, a sparse file in the node's run directory. Default 4 GiB. */
  diskBytes?: number;
  /** TCG boots in 20-160 s depending on the host's load; default 420 s. */
  bootTimeoutMs?: number;
  /** Virtual CPUs (QEMU runs one thread each). Default 2. */
  cpus?: number;
}

/** The ZFS guest as a node kind for startLab: its image is found or built when the lab starts. */
export function zfsGuest(spec: ZfsGuestKindSpec = {}): GuestKind & { image?: ZfsImage } {
  const kind: GuestKind & { image?: ZfsImage } = {
    requirements: [...req('qemu-system-x86', QEMU), ...req('mmdebstrap', 'mmdebstrap'), ...req('cpio', 'cpio'), ...req('busybox-static', 'busybox'), ...req('e2fsprogs', 'debugfs'), ...req('iproute2', 'ip')],
    bootTimeoutMs: spec.bootTimeoutMs ?? 420_000,
    async prepare(plan) {
      mkdirSync(plan.artifactsDir, { recursive: true });
      const image = await zfsImage({ logFile: join(plan.artifactsDir, 'image-build.log') });
      kind.image = image;
      mkdirSync(plan.runDir, { recursive: true });
      const disk = join(plan.runDir, 'zfs-data.img');
      const fd = openSync(disk, 'w');
      ftruncateSync(fd, spec.diskBytes ?? 4 * 1024 ** 3);
      closeSync(fd);
      plan.env = { ...plan.env, LAB_HOST_PATHS: hostPaths().join(' '), LAB_REPO: REPO, LAB_ZFS_ARC_MAX: String(256 * 1024 ** 2) };
      return {
        command: qemuCommand(image, disk, spec.cpus ?? 2),
        kernelRelease: image.manifest.kernel ?? '',
        timings: [{ what: `image ${image.manifest.kernel} zfs ${image.manifest.zfs}`, ms: image.ms }],
      };
    },
  };
  return kind;
}

/** Creates zpool `zpool` on the guest's data disk (vdb) with `dataset` in it. */
export async function createZpool(lab: Lab, guest: LabNode, zpool = 'tank', dataset = `${zpool}/k8s`): Promise<void> {
  const t0 = Date.now();
  await guest.run(['zpool', 'create', '-f', '-o', 'ashift=12', '-O', 'mountpoint=/' + zpool, zpool, '/dev/vdb'], { timeoutMs: 120_000 });
  await guest.run(['zfs', 'create', '-p', dataset], { timeoutMs: 60_000 });
  lab.timings.push({ what: `zpool ${zpool} on ${guest.name}`, ms: Date.now() - t0 });
}

/** Boots one ZFS guest (alone in a lab) with a zpool on a sparse data disk. Rejects (having
 * torn everything down) with the console's tail when it does not come up. */
export async function startZfsGuest(spec: ZfsGuestSpec): Promise<ZfsLab> {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(spec.name)) throw new LabError(`bad guest name ${spec.name}`);
  const kind = zfsGuest(spec);
  const lab = await startLab({ name: spec.name, nodes: [{ name: spec.name, memMiB: spec.memMiB ?? 2048, guest: kind, ...(spec.services ? { services: spec.services } : {}) }] });
  try {
    const guest = lab.node(spec.name);
    const zpool = spec.zpool ?? 'tank';
    const dataset = spec.dataset ?? `${zpool}/k8s`;
    await createZpool(lab, guest, zpool, dataset);
    return { lab, guest, image: kind.image!, zpool, dataset };
  } catch (e) {
    await lab.close().catch(() => undefined);
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
