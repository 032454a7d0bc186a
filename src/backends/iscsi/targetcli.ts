// argv for every targetcli command poolcsi runs on a storage host (never a shell string, never
// a piped script), and what its refusals mean. Each invocation saves LIO's configuration on exit
// (targetcli's global auto_save_on_exit, on by default), and poolcsi also runs `saveconfig`
// after each change, so every run holds one host-wide lock (flock on LOCK_FILE): two saves
// never interleave, whichever process or controller makes them, and a target restart finds
// every volume's configuration.
import type { Program } from '../lvm/commands.js';

/** The lock every targetcli run on the host holds (flock(1), released when targetcli exits). */
export const LOCK_FILE = '/run/poolcsi-targetcli.lock';
/** How long a run waits for the lock: targetcli takes seconds per command on a busy host. */
export const LOCK_WAIT_SECONDS = 240;

/** One targetcli command under the host-wide lock. */
export function targetcli(args: readonly string[]): Program {
  return { program: 'flock', args: ['-w', String(LOCK_WAIT_SECONDS), LOCK_FILE, 'targetcli', ...args] };
}

const tpg = (target: string) => `/iscsi/${target}/tpg1`;

/** A block backstore on the device of an LV (LIO reads its size from the device, so a grown LV needs no LIO step). */
export const createBackstoreCmd = (name: string, device: string) => targetcli(['/backstores/block', 'create', `name=${name}`, `dev=${device}`]);
export const deleteBackstoreCmd = (name: string) => targetcli(['/backstores/block', 'delete', name]);
/** A target with TPG 1 and (global auto_add_default_portal) a portal on every address, port 3260. */
export const createTargetCmd = (target: string) => targetcli(['/iscsi', 'create', target]);
export const deleteTargetCmd = (target: string) => targetcli(['/iscsi', 'delete', target]);
export const createLunCmd = (target: string, backstore: string, lun: number) => targetcli([`${tpg(target)}/luns`, 'create', `/backstores/block/${backstore}`, `lun=${lun}`]);
/** An ACL maps every LUN of the TPG (auto_add_mapped_luns); write_protect makes the mapping read-only. */
export const createAclCmd = (target: string, initiator: string) => targetcli([`${tpg(target)}/acls`, 'create', initiator]);
export const deleteAclCmd = (target: string, initiator: string) => targetcli([`${tpg(target)}/acls`, 'delete', initiator]);
export const saveConfigCmd = () => targetcli(['saveconfig']);

/** targetcli's refusal because the object is already there (stderr, exit 1). */
export function isAlreadyThere(stderr: string): boolean {
  return /already exists|^Storage object \S+ exists/m.test(stderr);
}

/** targetcli's refusal because the object is not there (stderr, exit 1). */
export function isNotThere(stderr: string): boolean {
  return /No such path|No storage object named|does not exist|No such Target|No such NodeACL|No such/i.test(stderr);
}
