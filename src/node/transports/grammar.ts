// The grammars a node checks descriptor values against. volume_context comes from a PV spec,
// which anyone who can create a PV writes: every value is checked before it reaches an argv,
// a path or the kernel.
import { isAbsolute, normalize } from 'node:path';
import { isIP } from 'node:net';
import { NodeError } from '../errors.js';

const invalid = (field: string, why: string) => new NodeError('invalid', `volume_context ${field}: ${why}`);

// lvm(8) VALID NAMES: reserved substrings of internal LVs, and reserved prefixes.
const RESERVED_PARTS = ['_cdata', '_cmeta', '_corig', '_cpool', '_cvol', '_iorig', '_mimage', '_mlog', '_pmspare',
  '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin', '_wcorig'];
export const MAX_LV_NAME = 100;

/** An LV name LVM accepts for a volume of ours. */
export function isValidLvName(n: string): boolean {
  return /^[A-Za-z0-9_.+][A-Za-z0-9_.+-]*$/.test(n) && n !== '.' && n !== '..' && n.length <= MAX_LV_NAME
    && !n.startsWith('snapshot') && !n.startsWith('pvmove') && !RESERVED_PARTS.some((p) => n.includes(p));
}

/** A VG name (lvm(8): same characters as LV names, at most 127). */
export function isValidVgName(n: string): boolean {
  return /^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,126}$/.test(n) && n !== '.' && n !== '..';
}

/** A RADOS pool or RBD image name as poolcsi makes them (no "/", "@", spaces or leading "-"). */
export function isValidRbdName(n: string): boolean {
  return /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}$/.test(n) && n !== '.' && n !== '..';
}

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS name (RFC 1123) or an IP address; IPv6 only inside brackets when `bracketed`. */
export function isValidHost(h: string, bracketed = false): boolean {
  if (bracketed && h.startsWith('[') && h.endsWith(']')) return isIP(h.slice(1, -1)) === 6;
  if (isIP(h) === 4) return true;
  if (!bracketed && isIP(h) === 6) return true;
  if (h.length > 253 || /^[0-9.]+$/.test(h)) return false;
  return h.split('.').every((l) => LABEL.test(l));
}

/** host, host:port or [ipv6]:port. */
export function isValidHostPort(s: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return false;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return false;
  return isValidHost(m[1]!, true);
}

/** Absolute, normalized (no ".", "..", "//" or trailing "/"), not "/", no NUL or newline. */
export function checkAbsolutePath(p: string, field: string): string {
  if (!p) throw invalid(field, 'is missing');
  if (p.length > 4096 || /[\0\n\r]/.test(p)) throw invalid(field, 'is too long or holds NUL/newline');
  if (!isAbsolute(p) || p === '/') throw invalid(field, `"${p}" is not an absolute path below /`);
  if (normalize(p) !== p || p.endsWith('/') || p.split('/').some((s) => s === '.' || s === '..')) {
    throw invalid(field, `"${p}" is not a normalized path`);
  }
  return p;
}

/** A required value matching `ok`. */
export function checkValue(d: Readonly<Record<string, string>>, key: string, field: string, ok: (v: string) => boolean, what: string): string {
  const v = d[key];
  if (v === undefined || v === '') throw invalid(field, 'is missing');
  if (v.length > 1024 || !ok(v)) throw invalid(field, `"${v.slice(0, 80)}" is not ${what}`);
  return v;
}

/** Only the keys a transport knows: an unknown key is a context this node does not understand. */
export function checkKeys(d: Readonly<Record<string, string>>, kind: string, known: readonly string[]): void {
  const extra = Object.keys(d).filter((k) => !known.includes(k));
  if (extra.length) throw invalid(`${kind}.*`, `unknown key(s) ${extra.slice(0, 5).map((k) => `${kind}.${k}`).join(', ')}`);
}
