// `poolcsi scan lvm|rbd|nfs|zfs|iscsi`: what a storage system holds, as poolcsi sees it.
import { scanIscsiCommand, SCAN_ISCSI_HELP } from './scan-iscsi.js';
import { scanLvmCommand, SCAN_LVM_HELP } from './scan-lvm.js';
import { scanNfsCommand, SCAN_NFS_HELP } from './scan-nfs.js';
import { scanRbdCommand, SCAN_RBD_HELP } from './scan-rbd.js';
import { scanZfsCommand, SCAN_ZFS_HELP } from './scan-zfs.js';

export async function scanCommand(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === 'lvm') return scanLvmCommand(rest);
  if (what === 'rbd') return scanRbdCommand(rest);
  if (what === 'nfs') return scanNfsCommand(rest);
  if (what === 'zfs') return scanZfsCommand(rest);
  if (what === 'iscsi') return scanIscsiCommand(rest);
  const help = `${SCAN_LVM_HELP}\n${SCAN_RBD_HELP}\n${SCAN_NFS_HELP}\n${SCAN_ZFS_HELP}\n${SCAN_ISCSI_HELP}`;
  if (what === '--help' || what === '-h') { process.stdout.write(help); return 0; }
  process.stderr.write(help);
  return 2;
}
