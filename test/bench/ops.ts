// One pool type's benchmark, run where the storage is (the host for dir, a lab node for lvm,
// lvmthin, rbd, iscsi and nfs, the ZFS guest for zfspool, and for zfs-iscsi a lab node that
// reaches the ZFS guest over SSH): each CSI operation through the driver's gRPC socket against the bare
// command(s) a person would type for the same effect, interleaved round by round in one run
// (the first of each pair alternates), so both see the same machine and the same load.
//
//   node dist/test/bench/ops.js --kind dir --path DIR [--rounds 10] [--batch 50] [--rest-seconds 60]
//   node dist/test/bench/ops.js --kind lvm|lvmthin --vg VG [--thinpool THIN] ...
//   node dist/test/bench/ops.js --kind rbd --rbd-pool rbd --pools-file F --secrets-dir D ...
//   node dist/test/bench/ops.js --kind iscsi --vg VG --thinpool THIN ...   (LIO and the initiator here)
//   node dist/test/bench/ops.js --kind nfs --nfs-export /srv/nfs ...       (the server at 127.0.0.1)
//   node dist/test/bench/ops.js --kind zfspool --zfs-parent tank/k8s ...   (in the ZFS guest)
//   node dist/test/bench/ops.js --kind zfs-iscsi --pools-file F --zfs-parent tank/k8s --ssh-host IP
//                               --ssh-key K --known-hosts F --portal IP:3260 ...   (the initiator)
//
// The driver is `poolcsi serve --mode all` as a child process, with /metrics on a free port:
// poolcsi_exec_total tells how many programs each operation started. Prints one JSON line
// (KindResult). suite.ts runs it for every pool type and prints the table.
import { appendFileSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';
import { local, waitFor } from '../../src/exec/index.js';
import { iscsiSessions } from '../../src/node/transports/iscsi-sysfs.js';

const DRIVER = fileURLToPath(new URL('../../src/cli/main.cjs', import.meta.url));
const LVM_ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };
export const KINDS = ['dir', 'lvm', 'lvmthin', 'rbd', 'iscsi', 'nfs', 'zfspool', 'zfs-iscsi'] as const;
export type Kind = typeof KINDS[number];
export const OPS = ['CreateVolume', 'DeleteVolume', 'CreateSnapshot', 'clone', 'expand', 'NodeStage+NodePublish'] as const;
export type OpName = typeof OPS[number];

export interface OpResult {
  op: OpName;
  /** What a person would type instead (shown in the table). */
  bare: string;
  driverMedianMs: number;
  /** undefined: the pool type has nothing to do for it (dir without quotas: expand). */
  bareMedianMs?: number;
  ratio?: number;
  /** Programs the driver started for one operation (median over the rounds). */
  driverProcs: number;
  bareProcs: number;
  driverMs: number[];
  bareMs: number[];
}

export interface KindResult {
  kind: Kind;
  rounds: number;
  sizeMiB: number;
  ops: OpResult[];
  batch: {
    n: number;
    /** Wall time of n CreateVolume calls sent at once. */
    concurrentCreateMs: number;
    /** Wall time of the same n bare creates, one after the other. */
    serialBareMs: number;
    ratio: number;
    concurrentDeleteMs: number;
    serialBareDeleteMs: number;
    deleteRatio: number;
  };
  rest: {
    volumes: number;
    seconds: number;
    /** Programs the driver started on its own, per minute, with `volumes` volumes and no calls. */
    procsPerMinute: number;
    /** Programs per GetCapacity, and per NodeGetVolumeStats averaged over STATS_CALLS calls in a
     * row (the calls the kubelet and the provisioner repeat; the kubelet asks for every mounted
     * volume's stats once a minute, and a node may answer many of them from one report). */
    getCapacityProcs: number;
    volumeStatsProcs: number;
    /** Programs of the first of those NodeGetVolumeStats, right after the stage. */
    volumeStatsFirstProcs: number;
  };
}

/** BENCH_TRACE=FILE: each step, and the driver's log, go to FILE as they happen (a lab node's
 * output is only seen when it ends: this shows where a long run is). */
const TRACE = process.env.BENCH_TRACE;
const step = (what: string) => { if (TRACE) appendFileSync(TRACE, `${new Date().toISOString()} ${what}\n`); };

/** NodeGetVolumeStats calls in a row whose programs are averaged. */
const STATS_CALLS = 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

export const median = (xs: number[]): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void;

function call(client: grpc.Client, method: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Unary>)[method]!.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 600_000 },
      (e, r) => (e ? reject(new Error(`${method}: ${e.details || e.message}`)) : resolve(r)));
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The sum of poolcsi_exec_total: every program the driver has started so far. */
async function execCount(metrics: string): Promise<number> {
  const text = await (await fetch(`http://${metrics}/metrics`)).text();
  let n = 0;
  for (const l of text.split('\n')) if (l.startsWith('poolcsi_exec_total{')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
  return n;
}

/** The bare commands for one pool type: argv lists run one after the other. */
interface Bare {
  label: Record<OpName, string>;
  create(n: string): string[][];
  remove(n: string): string[][];
  snapshot(n: string, s: string): string[][];
  removeSnapshot(n: string, s: string): string[][];
  clone(n: string, c: string): string[][];
  expand?(n: string): string[][];
  stage(n: string, staging: string, target: string): string[][];
  unstage(n: string, staging: string, target: string): string[][];
  /** What ControllerPublishVolume stands for (untimed, as the publish is): iscsi's export. */
  publish?(n: string): string[][];
  unpublish?(n: string): string[][];
}

const BARE_IQN = 'iqn.2003-01.org.example.bench-bare';
const LOCAL_PORTAL = '127.0.0.1:3260';
/** The bare zfs volumes' dataset, beside the driver's in the same zpool. */
const BARE_DATASET = 'bench-bare';
/** The bare side's export in the ZFS guest, which has rtslib (targetcli's library) but not targetcli. */
const LIO_SCRIPT = fileURLToPath(new URL('../../../test/bench/lio.py', import.meta.url));

interface BareOptions {
  path?: string; vg?: string; thinpool?: string; rbdPool?: string; nfsExport?: string; sizeMiB: number; initiator?: string; work?: string;
  /** zfspool, zfs-iscsi: the dataset the bare volumes are made in (beside the driver's). */
  bareParent?: string;
  /** zfs-iscsi: argv that runs a command on the storage host (ssh with a shared connection). */
  remote?: string[];
  portal?: string;
}

/** The bare commands of an iSCSI export added to a store's: a target per volume made at its
 * first publish (untimed, as ControllerPublishVolume is), as poolcsi exports a volume from its
 * first publish to its delete: an unpublish removes the ACL, the delete the target, the storage
 * object and the volume. The stage is what a person types on the node: the record, the login,
 * the wait for the disk. */
function withIscsiExport(store: Omit<Bare, 'stage' | 'unstage'>, o: BareOptions, lio: {
  label: string; publish(n: string, iqn: string): string[][]; unacl(iqn: string): string[][]; unexport(n: string, iqn: string): string[][];
}, mountFs: (dev: string, s: string, t: string) => string[][], umounts: (s: string, t: string) => string[][]): Bare {
  const portal = o.portal ?? LOCAL_PORTAL;
  const iqn = (n: string) => `${BARE_IQN}:${n}`;
  const exported = new Set<string>();
  return {
    ...store,
    remove: (n) => [...(exported.delete(n) ? lio.unexport(n, iqn(n)) : []), ...store.remove(n)],
    label: { ...store.label, DeleteVolume: `${lio.label} + ${store.label.DeleteVolume}`, 'NodeStage+NodePublish': 'iscsiadm login + disk wait + mkfs.ext4 + mount + mount --bind' },
    publish: (n) => { exported.add(n); return lio.publish(n, iqn(n)); },
    unpublish: (n) => lio.unacl(iqn(n)),
    stage: (n, s, t) => [
      ['iscsiadm', '-m', 'node', '-o', 'new', '-T', iqn(n), '-p', portal],
      ['iscsiadm', '-m', 'node', '-T', iqn(n), '-p', portal, '--login'],
      ['@iscsi-disk', iqn(n), n],
      ...mountFs(`@dev:${n}`, s, t),
    ],
    unstage: (n, s, t) => [...umounts(s, t), ['iscsiadm', '-m', 'node', '-T', iqn(n), '-p', portal, '--logout'], ['iscsiadm', '-m', 'node', '-o', 'delete', '-T', iqn(n), '-p', portal]],
  };
}

function bareFor(kind: Kind, o: BareOptions, devs: Map<string, string>): Bare {
  const size = `${o.sizeMiB}M`;
  const big = `${o.sizeMiB * 2}M`;
  const mountFs = (dev: string, staging: string, target: string) => [['mkfs.ext4', '-q', '-F', dev], ['mount', dev, staging], ['mount', '--bind', staging, target]];
  const umounts = (staging: string, target: string) => [['umount', target], ['umount', staging]];
  if (kind === 'dir') {
    const p = (n: string) => join(o.path!, 'bare', n);
    return {
      label: { CreateVolume: 'mkdir', DeleteVolume: 'rm -rf', CreateSnapshot: 'cp -a', clone: 'cp -a', expand: '(nothing to do)', 'NodeStage+NodePublish': 'mount --bind' },
      create: (n) => [['mkdir', p(n)]],
      remove: (n) => [['rm', '-rf', '--', p(n)]],
      snapshot: (n, s) => [['cp', '-a', '--reflink=auto', '--', p(n), p(`${n}@${s}`)]],
      removeSnapshot: (n, s) => [['rm', '-rf', '--', p(`${n}@${s}`)]],
      clone: (n, c) => [['cp', '-a', '--reflink=auto', '--', p(n), p(c)]],
      stage: (n, _s, target) => [['mount', '--bind', p(n), target]],
      unstage: (_n, _s, target) => [['umount', target]],
    };
  }
  if (kind === 'nfs') {
    // The bare side works in its own mount of the export (made before the rounds, untimed, as
    // the controller's is), and a volume is mounted from the server as a node would.
    const p = (n: string) => join(o.work!, 'export', 'bare', n);
    return {
      label: { CreateVolume: 'mkdir', DeleteVolume: 'rm -rf', CreateSnapshot: 'cp -a', clone: 'cp -a', expand: '(nothing to do)', 'NodeStage+NodePublish': 'mount -t nfs + mount --bind' },
      create: (n) => [['mkdir', p(n)]],
      remove: (n) => [['rm', '-rf', '--', p(n)]],
      snapshot: (n, s) => [['cp', '-a', '--reflink=auto', '--', p(n), p(`${n}@${s}`)]],
      removeSnapshot: (n, s) => [['rm', '-rf', '--', p(`${n}@${s}`)]],
      clone: (n, c) => [['cp', '-a', '--reflink=auto', '--', p(n), p(c)]],
      stage: (n, s, t) => [['mount', '-t', 'nfs', '-o', 'vers=4.2,hard', `127.0.0.1:${join(o.nfsExport!, 'bare', n)}`, s], ['mount', '--bind', s, t]],
      unstage: (_n, s, t) => umounts(s, t),
    };
  }
  if (kind === 'lvm' || kind === 'lvmthin' || kind === 'iscsi') {
    const vg = o.vg!;
    const thin = kind !== 'lvm';
    const lvs: Omit<Bare, 'stage' | 'unstage'> = {
      label: thin
        ? { CreateVolume: 'lvcreate -V -T', DeleteVolume: 'lvremove', CreateSnapshot: 'lvcreate -s', clone: 'lvcreate -s -kn', expand: 'lvextend', 'NodeStage+NodePublish': 'mkfs.ext4 + mount + mount --bind' }
        : { CreateVolume: 'lvcreate -L', DeleteVolume: 'lvremove', CreateSnapshot: 'lvcreate -s', clone: 'lvcreate -L + dd', expand: 'lvextend', 'NodeStage+NodePublish': 'mkfs.ext4 + mount + mount --bind' },
      create: (n) => [thin ? ['lvcreate', '-q', '-V', size, '-T', `${vg}/${o.thinpool!}`, '-n', n] : ['lvcreate', '-q', '-y', '-L', size, '-n', n, vg]],
      remove: (n) => [['lvremove', '-q', '-y', `${vg}/${n}`]],
      snapshot: (n, s) => [thin ? ['lvcreate', '-q', '-s', '-n', `${n}-${s}`, `${vg}/${n}`] : ['lvcreate', '-q', '-s', '-l', '20%ORIGIN', '-n', `${n}-${s}`, `${vg}/${n}`]],
      removeSnapshot: (n, s) => [['lvremove', '-q', '-y', `${vg}/${n}-${s}`]],
      clone: (n, c) => (thin ? [['lvcreate', '-q', '-s', '-kn', '-n', c, `${vg}/${n}`]]
        : [['lvcreate', '-q', '-y', '-L', size, '-n', c, vg], ['dd', `if=/dev/${vg}/${n}`, `of=/dev/${vg}/${c}`, 'bs=4M', 'conv=fsync', 'status=none']]),
      expand: (n) => [['lvextend', '-q', '-L', big, `${vg}/${n}`]],
    };
    if (kind !== 'iscsi') {
      return { ...lvs, stage: (n, s, t) => mountFs(`/dev/${vg}/${n}`, s, t), unstage: (_n, s, t) => umounts(s, t) };
    }
    const tpg = (iqn: string) => `/iscsi/${iqn}/tpg1`;
    return withIscsiExport(lvs, o, {
      label: 'targetcli delete (target, object)',
      publish: (n, iqn) => [
        ['targetcli', '/backstores/block', 'create', `name=${n}`, `dev=/dev/${vg}/${n}`],
        ['targetcli', '/iscsi', 'create', iqn],
        ['targetcli', `${tpg(iqn)}/luns`, 'create', `/backstores/block/${n}`],
        ['targetcli', `${tpg(iqn)}/acls`, 'create', o.initiator!],
      ],
      unacl: (iqn) => [['targetcli', `${tpg(iqn)}/acls`, 'delete', o.initiator!]],
      unexport: (n, iqn) => [['targetcli', '/iscsi', 'delete', iqn], ['targetcli', '/backstores/block', 'delete', n]],
    }, mountFs, umounts);
  }
  if (kind === 'zfspool' || kind === 'zfs-iscsi') {
    // zfspool: a filesystem volume is a dataset whose size is its refquota (and refreservation),
    // mounted by ZFS where it inherits; zfs-iscsi: a zvol on the storage host, exported.
    const at = (argv: string[]) => [...(o.remote ?? []), ...argv];
    const ds = (n: string) => `${o.bareParent!}/${n}`;
    const zvol = kind === 'zfs-iscsi';
    const store: Omit<Bare, 'stage' | 'unstage'> = {
      label: {
        CreateVolume: zvol ? 'zfs create -V' : 'zfs create (refquota)', DeleteVolume: 'zfs destroy', CreateSnapshot: 'zfs snapshot',
        clone: 'zfs snapshot + zfs clone', expand: zvol ? 'zfs set volsize' : 'zfs set refquota', 'NodeStage+NodePublish': 'mount --bind',
      },
      create: (n) => [at(zvol ? ['zfs', 'create', '-V', size, ds(n)] : ['zfs', 'create', '-o', `refquota=${size}`, '-o', `refreservation=${size}`, ds(n)])],
      remove: (n) => [at(['zfs', 'destroy', '-r', ds(n)])],
      snapshot: (n, s) => [at(['zfs', 'snapshot', `${ds(n)}@${s}`])],
      removeSnapshot: (n, s) => [at(['zfs', 'destroy', `${ds(n)}@${s}`])],
      clone: (n, c) => [at(['zfs', 'snapshot', `${ds(n)}@for-${c}`]), at(['zfs', 'clone', `${ds(n)}@for-${c}`, ds(c)])],
      expand: (n) => [at(zvol ? ['zfs', 'set', `volsize=${big}`, ds(n)] : ['zfs', 'set', `refquota=${big}`, `refreservation=${big}`, ds(n)])],
    };
    if (!zvol) {
      // ZFS mounted the dataset at its create: the stage is the bind a person would make.
      return { ...store, stage: (n, _s, t) => [['mount', '--bind', `/${ds(n)}`, t]], unstage: (_n, _s, t) => [['umount', t]] };
    }
    const lio = (argv: string[]) => [at(['python3', LIO_SCRIPT, ...argv])];
    return withIscsiExport(store, o, {
      label: 'rtslib delete (target, object)',
      publish: (n, iqn) => lio(['export', iqn, n, `/dev/zvol/${ds(n)}`, o.initiator!]),
      unacl: (iqn) => lio(['unacl', iqn, o.initiator!]),
      unexport: (n, iqn) => lio(['unexport', iqn, n]),
    }, mountFs, umounts);
  }
  const pool = o.rbdPool!;
  return {
    label: { CreateVolume: 'rbd create', DeleteVolume: 'rbd rm', CreateSnapshot: 'rbd snap create', clone: 'rbd snap create + rbd clone', expand: 'rbd resize', 'NodeStage+NodePublish': 'rbd map + mkfs.ext4 + mount + mount --bind' },
    create: (n) => [['rbd', 'create', `${pool}/${n}`, '--size', size]],
    remove: (n) => [['rbd', 'snap', 'purge', '--no-progress', `${pool}/${n}`], ['rbd', 'rm', '--no-progress', `${pool}/${n}`]],
    snapshot: (n, s) => [['rbd', 'snap', 'create', '--no-progress', `${pool}/${n}@${s}`]],
    removeSnapshot: (n, s) => [['rbd', 'snap', 'rm', '--no-progress', `${pool}/${n}@${s}`]],
    clone: (n, c) => [['rbd', 'snap', 'create', '--no-progress', `${pool}/${n}@for-${c}`], ['rbd', 'clone', '--rbd-default-clone-format', '2', `${pool}/${n}@for-${c}`, `${pool}/${c}`]],
    expand: (n) => [['rbd', 'resize', '--no-progress', `${pool}/${n}`, '--size', big]],
    // The device's name is only known once mapped: stage() is expanded by runBare (see below).
    stage: (n, s, t) => [['rbd', 'map', '-o', 'noudev', `${pool}/${n}`], ...mountFs(`@dev:${n}`, s, t)],
    unstage: (n, s, t) => [...umounts(s, t), ['rbd', 'unmap', '-o', 'noudev', devs.get(n) ?? `${pool}/${n}`]],
  };
}

/** Runs argv lists in order; `@dev:NAME` stands for the device `rbd map` printed for NAME (or
 * the disk `@iscsi-disk TARGET NAME` waited for: LUN 0 of the session to TARGET, from sysfs). */
async function runBare(cmds: string[][], devs: Map<string, string>): Promise<number> {
  for (const argv of cmds) {
    if (argv[0] === '@iscsi-disk') {
      const disk = await waitFor(async () => (await iscsiSessions()).find((x) => x.target === argv[1])?.luns.find((l) => l.lun === 0 && l.disk && l.state === 'running')?.disk,
        { timeoutMs: 60_000, what: `the disk of ${argv[1]}` });
      devs.set(argv[2]!, `/dev/${disk}`);
      continue;
    }
    const args = argv.slice(1).map((a) => (a.startsWith('@dev:') ? devs.get(a.slice(5))! : a));
    const r = await local.run(argv[0]!, args, { env: LVM_ENV, timeoutMs: 600_000 });
    if (argv[0] === 'rbd' && argv[1] === 'map') devs.set(argv[argv.length - 1]!.split('/').pop()!, r.stdout.trim());
  }
  return cmds.length;
}

export async function runKind(o: {
  kind: Kind; rounds: number; batch: number; restSeconds: number; sizeMiB: number;
  path?: string; vg?: string; thinpool?: string; rbdPool?: string; nfsExport?: string; poolsFile?: string; secretsDir?: string;
  /** zfspool, zfs-iscsi: the pool's dataset (the bare volumes go in a sibling, BARE_DATASET). */
  zfsParent?: string;
  /** zfs-iscsi: the storage host, the key and known-hosts file to reach it, its iSCSI portal. */
  sshHost?: string; sshKey?: string; knownHosts?: string; portal?: string;
}): Promise<KindResult> {
  const work = await mkdtemp(join(tmpdir(), 'poolcsi-bench-'));
  const socket = join(work, 'csi.sock');
  const poolId = 'bench';
  let poolsFile = o.poolsFile;
  if (!poolsFile) {
    poolsFile = join(work, 'pools.yaml');
    const thin = `vgname: ${o.vg}, thinpool: ${o.thinpool}, overprovision: 1000`;
    const def = o.kind === 'dir' ? `{id: ${poolId}, type: dir, path: ${join(o.path!, 'driver')}}`
      : o.kind === 'lvm' ? `{id: ${poolId}, type: lvm, vgname: ${o.vg}}`
      : o.kind === 'iscsi' ? `{id: ${poolId}, type: iscsi, portals: ['${LOCAL_PORTAL}'], iqnPrefix: iqn.2003-01.org.example.bench, local: true, backing: {type: lvmthin, ${thin}}}`
      : o.kind === 'nfs' ? `{id: ${poolId}, type: nfs, server: 127.0.0.1, export: ${o.nfsExport}, options: [vers=4.2, hard]}`
      : o.kind === 'zfspool' ? `{id: ${poolId}, type: zfspool, pool: ${o.zfsParent}}`
      : `{id: ${poolId}, type: lvmthin, ${thin}}`;
    await writeFile(poolsFile, `pools:\n  - ${def}\n`);
  }
  if (o.kind === 'dir') for (const d of ['bare', 'driver']) await mkdir(join(o.path!, d), { recursive: true });
  const metrics = `127.0.0.1:${await freePort()}`;
  const driverLog = TRACE ? openSync(TRACE, 'a') : 'inherit';
  const driver = spawn(process.execPath, [DRIVER, 'serve', '--mode', 'all', '--endpoint', `unix://${socket}`, '--node-id', 'bench',
    '--pools-file', poolsFile, '--state-dir', join(work, 'state'), '--log-level', 'warn', '--metrics-address', metrics,
    ...(o.secretsDir ? ['--secrets-dir', o.secretsDir] : [])], { stdio: ['ignore', driverLog, driverLog] });
  const exited = new Promise<void>((r) => driver.once('exit', () => r()));
  const csi = loadCsi();
  const ctl = new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure());
  const node = new csi.Node(`unix://${socket}`, grpc.credentials.createInsecure());
  const devs = new Map<string, string>();
  // iscsi, zfs-iscsi: the bare target admits this host's own initiator (its default interface).
  const initiator = o.kind === 'iscsi' || o.kind === 'zfs-iscsi'
    ? /^InitiatorName=(.+)$/m.exec(await readFile('/etc/iscsi/initiatorname.iscsi', 'utf8'))?.[1]?.trim() : undefined;
  // zfs-iscsi: the bare commands reach the storage host as a person would, with ssh, over one
  // connection kept open (as the driver keeps its own), so neither side pays a handshake per command.
  const sshOpts = o.kind === 'zfs-iscsi' ? ['-i', o.sshKey!, '-o', `UserKnownHostsFile=${o.knownHosts!}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', `ControlPath=${join(work, 'ssh.ctl')}`] : undefined;
  const remote = sshOpts ? ['ssh', ...sshOpts, '-o', 'ControlMaster=no', `root@${o.sshHost!}`] : undefined;
  const bareParent = o.zfsParent ? `${o.zfsParent.split('/')[0]}/${BARE_DATASET}` : undefined;
  const bare = bareFor(o.kind, {
    ...o, work, ...(initiator ? { initiator } : {}), ...(remote ? { remote } : {}), ...(bareParent ? { bareParent } : {}),
  }, devs);
  if (o.kind === 'nfs') {
    await mkdir(join(work, 'export'), { recursive: true });
    await runBare([['mount', '-t', 'nfs', '-o', 'vers=4.2,hard', `127.0.0.1:${o.nfsExport}`, join(work, 'export')], ['mkdir', '-p', join(work, 'export', 'bare')]], devs);
  }
  // rbd: NodeStageVolume maps with the StorageClass's node-stage secret, which the CO sends with
  // the call (the pool's secretRef serves the controller): the same cephx user, read from the
  // --secrets-dir tree (never from argv).
  const stageSecrets = o.kind === 'rbd' && o.secretsDir ? {
    userID: (await readFile(join(o.secretsDir, 'poolcsi', 'ceph-client', 'userID'), 'utf8')).trim(),
    userKey: (await readFile(join(o.secretsDir, 'poolcsi', 'ceph-client', 'userKey'), 'utf8')).trim(),
  } : undefined;
  const bytes = (mib: number) => String(mib * 1024 * 1024);
  // zfspool: a filesystem volume is a dataset (ZFS is the filesystem).
  const cap = { mount: { fs_type: o.kind === 'dir' || o.kind === 'nfs' || o.kind === 'zfspool' ? '' : 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
  const topo = { requisite: [{ segments: { 'topology.poolcsi.io/node': 'bench' } }], preferred: [{ segments: { 'topology.poolcsi.io/node': 'bench' } }] };
  const create = (name: string, source?: object) => call(ctl, 'CreateVolume', {
    name, capacity_range: { required_bytes: bytes(o.sizeMiB) }, parameters: { pool: poolId }, volume_capabilities: [cap],
    accessibility_requirements: topo, ...(source ? { volume_content_source: source } : {}),
  }).then((r) => r.volume as { volume_id: string; volume_context: Record<string, string> });
  const procs = async <T>(fn: () => Promise<T>): Promise<[T, number, number]> => {
    const before = await execCount(metrics);
    const t0 = performance.now();
    const r = await fn();
    const ms = performance.now() - t0;
    return [r, ms, (await execCount(metrics)) - before];
  };
  try {
    if (sshOpts) {
      // The shared connection, made once (untimed): -f leaves it in the background once logged
      // in, with no pipe of ours open (a master started by a captured command would hold its
      // stderr, and that command would never end).
      const master = spawn('ssh', [...sshOpts, '-M', '-N', '-f', '-o', 'ControlPersist=yes', `root@${o.sshHost!}`], { stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => master.once('exit', r));
      if (code !== 0) throw new Error(`ssh to ${o.sshHost} failed (exit ${code})`);
    }
    if (bareParent) await runBare([[...(remote ?? []), 'zfs', 'create', '-p', bareParent]], devs);
    await waitFor(async () => { await call(ctl, 'ControllerGetCapabilities', {}); return true; }, { timeoutMs: 180_000, what: 'the driver socket (a driver in the emulated ZFS guest starts in tens of seconds)' });
    const ms: Record<OpName, { d: number[]; b: number[]; dp: number[]; bp: number }> = Object.fromEntries(OPS.map((k) => [k, { d: [], b: [], dp: [], bp: 0 }])) as never;
    let statsProcs = 0;
    let statsFirstProcs = 0;
    const stageRoot = join(work, 'mnt');
    // Round -1 is untimed: first-call costs (module loading, the VG's extent size, the cluster's
    // connection set-up) are paid once per driver, not per operation.
    for (let i = -1; i < o.rounds; i++) {
      const tag = i < 0 ? 'w' : String(i);
      const dn = `bench-${tag}`;
      const bn = `bare-${tag}`;
      const driverFirst = i % 2 === 0;
      const pair = async (op: OpName, d: () => Promise<unknown>, b: (() => string[][]) | undefined) => {
        step(`${o.kind} round ${tag}: ${op}`);
        const runD = async () => { const [, t, p] = await procs(d); if (i >= 0) { ms[op].d.push(t); ms[op].dp.push(p); } };
        const runB = async () => {
          if (!b) return;
          const cmds = b();
          const t0 = performance.now();
          const n = await runBare(cmds, devs);
          if (i >= 0) { ms[op].b.push(performance.now() - t0); ms[op].bp = n; }
        };
        if (driverFirst) { await runD(); await runB(); } else { await runB(); await runD(); }
      };
      let vol!: { volume_id: string; volume_context: Record<string, string> };
      await pair('CreateVolume', async () => { vol = await create(dn); }, () => bare.create(bn));
      let clone!: { volume_id: string };
      await pair('clone', async () => { clone = await create(`${dn}-c`, { volume: { volume_id: vol.volume_id } }); }, () => bare.clone(bn, `${bn}-c`));
      let snapId = '';
      await pair('CreateSnapshot', async () => { snapId = (await call(ctl, 'CreateSnapshot', { source_volume_id: vol.volume_id, name: `${dn}-s` })).snapshot.snapshot_id; },
        () => bare.snapshot(bn, 's'));
      // Thick LVM cannot grow a snapshot origin: the snapshot goes before the expansion (untimed).
      await call(ctl, 'DeleteSnapshot', { snapshot_id: snapId });
      await runBare(bare.removeSnapshot(bn, 's'), devs);
      await pair('expand', () => call(ctl, 'ControllerExpandVolume', { volume_id: vol.volume_id, capacity_range: { required_bytes: bytes(o.sizeMiB * 2) }, volume_capability: cap }),
        bare.expand ? () => bare.expand!(bn) : undefined);
      const dStage = join(stageRoot, `${dn}-stage`); const dTarget = join(stageRoot, `${dn}-target`);
      const bStage = join(stageRoot, `${bn}-stage`); const bTarget = join(stageRoot, `${bn}-target`);
      for (const p of [dStage, bStage, bTarget]) await mkdir(p, { recursive: true });
      const pub = await call(ctl, 'ControllerPublishVolume', { volume_id: vol.volume_id, node_id: 'bench', volume_capability: cap, volume_context: vol.volume_context });
      if (bare.publish) await runBare(bare.publish(bn), devs);
      const common = { volume_id: vol.volume_id, volume_capability: cap, volume_context: vol.volume_context, publish_context: pub.publish_context ?? {} };
      await pair('NodeStage+NodePublish', async () => {
        await call(node, 'NodeStageVolume', { ...common, staging_target_path: dStage, ...(stageSecrets ? { secrets: stageSecrets } : {}) });
        await call(node, 'NodePublishVolume', { ...common, staging_target_path: dStage, target_path: dTarget });
      }, () => bare.stage(bn, bStage, bTarget));
      const stats = () => call(node, 'NodeGetVolumeStats', { volume_id: vol.volume_id, volume_path: dTarget });
      statsFirstProcs = (await procs(stats))[2];
      let rest = 0;
      for (let k = 1; k < STATS_CALLS; k++) rest += (await procs(stats))[2];
      statsProcs = r2((statsFirstProcs + rest) / STATS_CALLS);
      await call(node, 'NodeUnpublishVolume', { volume_id: vol.volume_id, target_path: dTarget });
      await call(node, 'NodeUnstageVolume', { volume_id: vol.volume_id, staging_target_path: dStage });
      await call(ctl, 'ControllerUnpublishVolume', { volume_id: vol.volume_id, node_id: 'bench' });
      await runBare(bare.unstage(bn, bStage, bTarget), devs);
      if (bare.unpublish) await runBare(bare.unpublish(bn), devs);
      await call(ctl, 'DeleteVolume', { volume_id: clone.volume_id });
      await runBare(bare.remove(`${bn}-c`), devs);
      await pair('DeleteVolume', () => call(ctl, 'DeleteVolume', { volume_id: vol.volume_id }), () => bare.remove(bn));
    }
    const getCapacityProcs = (await procs(() => call(ctl, 'GetCapacity', { parameters: { pool: poolId }, volume_capabilities: [cap], accessible_topology: topo.requisite[0] })))[2];

    // Many at once: n CreateVolume calls in flight together against n bare creates in a row.
    const n = o.batch;
    step(`${o.kind}: ${n} at once`);
    const names = Array.from({ length: n }, (_, k) => `many-${k}`);
    let t0 = performance.now();
    const made = await Promise.all(names.map((x) => create(x)));
    const concurrentCreateMs = performance.now() - t0;
    t0 = performance.now();
    for (const x of names) await runBare(bare.create(`bare-${x}`), devs);
    const serialBareMs = performance.now() - t0;
    // At rest with 2n volumes: what the driver runs on its own, no calls.
    step(`${o.kind}: at rest`);
    const more = await Promise.all(names.map((x) => create(`${x}-rest`)));
    const before = await execCount(metrics);
    await new Promise((r) => setTimeout(r, o.restSeconds * 1000));
    const restProcs = (await execCount(metrics)) - before;
    await Promise.all(more.map((v) => call(ctl, 'DeleteVolume', { volume_id: v.volume_id })));
    t0 = performance.now();
    await Promise.all(made.map((v) => call(ctl, 'DeleteVolume', { volume_id: v.volume_id })));
    const concurrentDeleteMs = performance.now() - t0;
    step(`${o.kind}: ${n} bare deletes`);
    t0 = performance.now();
    for (const x of names) await runBare(bare.remove(`bare-${x}`), devs);
    const serialBareDeleteMs = performance.now() - t0;

    return {
      kind: o.kind, rounds: o.rounds, sizeMiB: o.sizeMiB,
      ops: OPS.map((op) => {
        const m = ms[op];
        const dm = median(m.d);
        const bm = m.b.length ? median(m.b) : undefined;
        return {
          op, bare: bare.label[op], driverMedianMs: r2(dm), ...(bm !== undefined ? { bareMedianMs: r2(bm), ratio: r2(dm / bm) } : {}),
          driverProcs: median(m.dp), bareProcs: m.bp, driverMs: m.d.map(Math.round), bareMs: m.b.map(Math.round),
        };
      }),
      batch: {
        n, concurrentCreateMs: Math.round(concurrentCreateMs), serialBareMs: Math.round(serialBareMs), ratio: r2(concurrentCreateMs / serialBareMs),
        concurrentDeleteMs: Math.round(concurrentDeleteMs), serialBareDeleteMs: Math.round(serialBareDeleteMs), deleteRatio: r2(concurrentDeleteMs / serialBareDeleteMs),
      },
      rest: { volumes: 2 * n, seconds: o.restSeconds, procsPerMinute: r2(restProcs * 60 / o.restSeconds), getCapacityProcs, volumeStatsProcs: statsProcs, volumeStatsFirstProcs: statsFirstProcs },
    };
  } finally {
    step(`${o.kind}: done, cleaning up`);
    ctl.close();
    node.close();
    driver.kill('SIGTERM');
    // A driver that outlives SIGTERM is a bug to see, not to wait on forever.
    const killer = setTimeout(() => { step(`${o.kind}: the driver outlived SIGTERM by 20 s: SIGKILL`); driver.kill('SIGKILL'); }, 20_000);
    await exited;
    clearTimeout(killer);
    if (o.kind === 'nfs') {
      await rm(join(work, 'export', 'bare'), { recursive: true, force: true }).catch(() => undefined);
      await local.run('umount', [join(work, 'export')], { okCodes: [0, 32] }).catch(() => undefined);
    }
    if (bareParent) await runBare([[...(remote ?? []), 'zfs', 'destroy', '-r', bareParent]], devs).catch(() => undefined);
    if (remote) await local.run(remote[0]!, [...remote.slice(1, -1), '-O', 'exit', remote.at(-1)!], { okCodes: [0, 255] }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
    if (o.kind === 'dir') await rm(o.path!, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string' }, path: { type: 'string' }, vg: { type: 'string' }, thinpool: { type: 'string' }, 'rbd-pool': { type: 'string' }, 'nfs-export': { type: 'string' },
      'pools-file': { type: 'string' }, 'secrets-dir': { type: 'string' }, 'zfs-parent': { type: 'string' },
      'ssh-host': { type: 'string' }, 'ssh-key': { type: 'string' }, 'known-hosts': { type: 'string' }, portal: { type: 'string' },
      rounds: { type: 'string', default: '10' }, batch: { type: 'string', default: '50' }, 'rest-seconds': { type: 'string', default: '60' },
      'size-mib': { type: 'string', default: '64' },
    },
    strict: true,
  });
  const kind = values.kind as Kind;
  if (!KINDS.includes(kind)) throw new Error(`--kind must be one of ${KINDS.join(', ')}`);
  const r = await runKind({
    kind, rounds: Number(values.rounds), batch: Number(values.batch), restSeconds: Number(values['rest-seconds']), sizeMiB: Number(values['size-mib']),
    ...(values.path ? { path: values.path } : {}), ...(values.vg ? { vg: values.vg } : {}), ...(values.thinpool ? { thinpool: values.thinpool } : {}),
    ...(values['rbd-pool'] ? { rbdPool: values['rbd-pool'] } : {}), ...(values['nfs-export'] ? { nfsExport: values['nfs-export'] } : {}), ...(values['pools-file'] ? { poolsFile: values['pools-file'] } : {}),
    ...(values['secrets-dir'] ? { secretsDir: values['secrets-dir'] } : {}), ...(values['zfs-parent'] ? { zfsParent: values['zfs-parent'] } : {}),
    ...(values['ssh-host'] ? { sshHost: values['ssh-host'] } : {}), ...(values['ssh-key'] ? { sshKey: values['ssh-key'] } : {}),
    ...(values['known-hosts'] ? { knownHosts: values['known-hosts'] } : {}), ...(values.portal ? { portal: values.portal } : {}),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => { process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
