// The iscsi lane, run inside a lab node that is its own storage host (services lvm, iscsi-target,
// iscsi-initiator): an iscsi pool with `local: true` on thin LVs of the lab's VG, exported by LIO
// through configfs, the driver with --mode all logging in through its own iscsiadm interface.
// ControllerPublish (the LUN's ACL) is part of the crash run; a stage round publishes first.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverProcess } from '../core/proc.js';
import type { Lane } from '../core/lane.js';
import type { FuzzSetup } from '../core/suite.js';
import { IscsiTruth } from '../truth/iscsi.js';

export interface IscsiSetup { lane: Lane; driver: DriverProcess; root: string; vg: string }

const POOL = { id: 'isc', iqnPrefix: 'iqn.2003-01.org.example.rel' };

export async function iscsiLane(o: { vg: string; thinpool: string; nodeId: string; root?: string | undefined }): Promise<IscsiSetup> {
  const root = o.root ?? await mkdtemp('/tmp/poolcsi-rel-iscsi-');
  const stage = join(root, 'stage');
  await mkdir(stage, { recursive: true });
  await mkdir(join(root, 'dirpool'), { recursive: true });
  const poolsFile = join(root, 'pools.yaml');
  // JSON is YAML.
  await writeFile(poolsFile, JSON.stringify({
    pools: [
      { ...POOL, type: 'iscsi', portals: ['127.0.0.1:3260'], local: true, backing: { type: 'lvmthin', vgname: o.vg, thinpool: o.thinpool, overprovision: 20 } },
      { id: 'local', type: 'dir', path: join(root, 'dirpool') },
    ],
  }));
  const driver = new DriverProcess({ socket: join(root, 'csi.sock'), poolsFile, nodeId: o.nodeId, logFile: join(root, 'driver.log'), args: ['--path-prefix', stage] });
  const lane: Lane = {
    type: 'iscsi', pool: POOL.id, nodeId: o.nodeId,
    capability: { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    sizesMiB: [8, 16],
    features: { snapshots: true, clones: true, expand: true, stage: true, publish: true, stagePublish: true },
    killWindowMs: 3000,
    callTimeoutMs: 120_000,
    truth: await new IscsiTruth(o.vg, POOL).init(),
    stagingRoot: stage,
  };
  return { lane, driver, root, vg: o.vg };
}

export async function iscsiFuzzSetup(s: IscsiSetup): Promise<FuzzSetup> {
  const bait = join(s.root, 'outside');
  await mkdir(join(bait, 'keep'), { recursive: true });
  await writeFile(join(bait, 'keep', 'file'), 'must survive the fuzz\n');
  const stage = s.lane.stagingRoot!;
  return {
    pools: [POOL.id, 'local'],
    nodeIds: [s.lane.nodeId, 'other-node', ''],
    goodPaths: [join(stage, 'fuzz'), join(stage, 'fuzz-target')],
    baitPaths: [bait, join(bait, 'keep'), join(bait, 'keep', 'file'), '/etc', '/etc/iscsi', `/dev/${s.vg}`],
    areas: {
      trees: [s.root],
      skip: [stage, join(s.root, 'dirpool'), join(s.root, 'driver.log'), join(s.root, 'csi.sock')],
      stable: ['/', '/etc'],
      busy: ['/tmp', '/run'],
      mountRoots: [stage],
    },
    argv: {
      programs: ['lvm', 'lvs', 'vgs', 'lvcreate', 'lvremove', 'lvchange', 'lvextend', 'lvresize', 'lvconvert', 'lvrename',
        // LIO through configfs, saved by rtslib under a lock; the initiator.
        'find', 'mkdir', 'rmdir', 'ln', 'dd', 'grep', 'flock', 'iscsiadm', 'udevadm', 'test',
        'mount', 'umount', 'blkid', 'mkfs.ext4', 'mkfs.xfs', 'mkfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'fsck', 'blockdev', 'wipefs', 'cp'],
      // LIO's lock and iscsiadm's records live under /run and /etc/iscsi.
      roots: [s.root, '/dev', '/proc', '/sys', '/run', '/etc/iscsi'],
    },
    boundMs: 60_000,
  };
}
