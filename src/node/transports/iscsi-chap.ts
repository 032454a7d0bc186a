// CHAP credentials of an iSCSI login, one-way (the target checks the initiator) or mutual (the
// initiator also checks the target). Keys are open-iscsi's own names, as csi-driver-iscsi and
// democratic-csi use them, so one Secret serves the controller (the LUN's ACL) and the node
// (the login):
//   node.session.auth.username / .password        the initiator's name and secret
//   node.session.auth.username_in / .password_in  the target's (mutual CHAP)
// Passwords never go in argv: the controller writes them to configfs from stdin, the node
// writes them into its own iscsiadm node record (iscsi-record.ts).
export const CHAP_USER = 'node.session.auth.username';
export const CHAP_PASSWORD = 'node.session.auth.password';
export const CHAP_USER_IN = 'node.session.auth.username_in';
export const CHAP_PASSWORD_IN = 'node.session.auth.password_in';

/** Printable ASCII without spaces: what both LIO's configfs and iscsiadm records keep verbatim. */
const CHAP_VALUE = /^[\x21-\x7e]{1,255}$/;

export interface ChapPair { user: string; password: string }
export interface Chap extends ChapPair { mutual?: ChapPair }

/** Whether a secrets map carries CHAP at all. */
export function hasChap(s: Readonly<Record<string, string>> | undefined): boolean {
  return !!s && [CHAP_USER, CHAP_PASSWORD, CHAP_USER_IN, CHAP_PASSWORD_IN].some((k) => s[k] !== undefined);
}

/** The CHAP credentials of a secrets map, or a message saying what is wrong (no value quoted). */
export function parseChap(s: Readonly<Record<string, string>>, origin: string): Chap | string {
  const pair = (u: string, p: string): ChapPair | string | undefined => {
    if (s[u] === undefined && s[p] === undefined) return undefined;
    if (s[u] === undefined || s[p] === undefined) return `${origin}: ${s[u] === undefined ? u : p} is missing (${u} and ${p} go together)`;
    for (const k of [u, p]) if (!CHAP_VALUE.test(s[k]!)) return `${origin}: ${k} must be 1-255 printable ASCII characters without spaces`;
    return { user: s[u]!, password: s[p]! };
  };
  const one = pair(CHAP_USER, CHAP_PASSWORD);
  const mutual = pair(CHAP_USER_IN, CHAP_PASSWORD_IN);
  if (typeof one === 'string') return one;
  if (typeof mutual === 'string') return mutual;
  if (!one) return `${origin}: ${mutual ? `mutual CHAP (${CHAP_USER_IN}) needs one-way CHAP too (${CHAP_USER}, ${CHAP_PASSWORD})` : `no CHAP credentials (${CHAP_USER}, ${CHAP_PASSWORD})`}`;
  return mutual ? { ...one, mutual } : one;
}
