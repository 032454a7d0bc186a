// iSCSI names both sides derive the same way, so neither has to ask the other.
// The initiator name of a node is a function of its CSI node id: the node transport sets it on
// the iscsiadm interface it owns ("poolcsi"), the controller puts the same name in the LUN's ACL
// on ControllerPublishVolume. Nothing is read from /etc/iscsi/initiatorname.iscsi, which stays
// the host's own (other software may use it).
import { createHash } from 'node:crypto';

/** Naming authority of the names poolcsi derives (RFC 3720 iqn.yyyy-mm.reversed-domain). */
export const POOLCSI_IQN_AUTHORITY = 'iqn.2026-12.io.poolcsi';
/** The iscsiadm interface the node transport owns. */
export const IFACE = 'poolcsi';
/** RFC 3720: an iSCSI name is at most 223 bytes. */
export const MAX_IQN = 223;

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 24);
/** What LIO and iscsiadm accept in the unique part of an IQN without escaping. */
const PLAIN = /^[a-z0-9][a-z0-9.-]*$/;

/** `iqn.yyyy-mm.domain[:unique]`, lowercase, at most 223 bytes. */
export function isValidIqn(s: string): boolean {
  return s.length <= MAX_IQN && /^iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[a-z0-9.:-]+)?$/.test(s);
}

/** The unique part for `name` under `prefix`: the name itself when it fits, else a hash. */
export function iqnUnique(prefix: string, name: string): string {
  const plain = PLAIN.test(name) && `${prefix}:${name}`.length <= MAX_IQN;
  return plain ? name : `h.${hash(name)}`;
}

/** The initiator name of node `nodeId`. */
export function initiatorIqnFor(nodeId: string): string {
  return `${POOLCSI_IQN_AUTHORITY}:node.${iqnUnique(`${POOLCSI_IQN_AUTHORITY}:node.`, nodeId)}`;
}
