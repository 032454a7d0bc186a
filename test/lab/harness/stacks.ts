// Small steps on the lab's storage stacks that several tests need (smoke tests now, backend
// tests later): an iSCSI LUN on a target node, logging a node in to it, finding its disk.
import type { LabNode } from './node.js';
import { pollUntil } from './poll.js';

export interface FileLun {
  targetIqn: string;
  /** Backing file inside the target node. */
  file: string;
  sizeMiB: number;
  /** Initiator names allowed in (ACLs). */
  initiators: string[];
}

/** Create a fileio-backed LUN 0 on a new target with ACLs (service iscsi-target). */
export async function createFileLun(target: LabNode, lun: FileLun): Promise<void> {
  const name = lun.targetIqn.split(':').at(-1)!;
  const tpg = `/iscsi/${lun.targetIqn}/tpg1`;
  await target.run(['truncate', '-s', `${lun.sizeMiB}M`, lun.file]);
  await target.run(['targetcli', '/backstores/fileio', 'create', `name=${name}`, `file_or_dev=${lun.file}`, `size=${lun.sizeMiB}M`]);
  await target.run(['targetcli', '/iscsi', 'create', lun.targetIqn]);
  await target.run(['targetcli', `${tpg}/luns`, 'create', `/backstores/fileio/${name}`]);
  for (const initiator of lun.initiators) await target.run(['targetcli', `${tpg}/acls`, 'create', initiator]);
}

/** Discover and log in (service iscsi-initiator); resolves with the disk's /dev path once
 * the kernel attached it (no udev: the name comes from the session, not /dev/disk/by-path). */
export async function iscsiLogin(node: LabNode, portal: string, targetIqn: string, timeoutMs = 30_000): Promise<string> {
  await node.run(['iscsiadm', '-m', 'discovery', '-t', 'sendtargets', '-p', portal]);
  await node.run(['iscsiadm', '-m', 'node', '-T', targetIqn, '-p', portal, '--login']);
  const disk = await pollUntil(
    async () => {
      const r = await node.exec(['iscsiadm', '-m', 'session', '-P', '3']);
      return /Attached scsi disk (\w+)\s+State: running/.exec(r.stdout)?.[1];
    },
    { timeoutMs, what: `the disk of ${targetIqn} on ${node.name}` },
  );
  return `/dev/${disk}`;
}

export async function iscsiLogout(node: LabNode, portal: string, targetIqn: string): Promise<void> {
  await node.run(['iscsiadm', '-m', 'node', '-T', targetIqn, '-p', portal, '--logout']);
}

/** Size of a block device inside a node, in bytes. */
export async function blockSize(node: LabNode, dev: string): Promise<number> {
  const r = await node.run(['blockdev', '--getsize64', dev]);
  return Number(r.stdout.trim());
}

export interface ScratchFilesystem {
  /** Names the sparse backing file (in the node's run dir, on the host's disk). */
  name: string;
  fsType: 'xfs' | 'ext4';
  /** e.g. '32G': sparse, so only what is written costs disk. */
  size: string;
  mountPoint: string;
  /** e.g. ['prjquota'] */
  mountOptions?: string[];
}

/** A real file system on a loop device in a node, e.g. for a dir pool with project quotas.
 * Resolves with the loop device. */
export async function scratchFilesystem(node: LabNode, fs: ScratchFilesystem): Promise<string> {
  const file = `${node.runDir}/${fs.name}.img`;
  await node.run(['modprobe', 'loop']);
  await node.run(['truncate', '-s', fs.size, file]);
  const loop = (await node.run(['losetup', '-f', '--show', file])).stdout.trim();
  await node.run(fs.fsType === 'xfs' ? ['mkfs.xfs', '-q', loop] : ['mkfs.ext4', '-q', '-O', 'quota,project', loop], { timeoutMs: 120_000 });
  await node.run(['mkdir', '-p', fs.mountPoint]);
  const options = fs.mountOptions?.length ? ['-o', fs.mountOptions.join(',')] : [];
  await node.run(['mount', '-t', fs.fsType, ...options, loop, fs.mountPoint]);
  return loop;
}
