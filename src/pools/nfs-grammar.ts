// The grammar of NFS values that reach mount(8): server host, export path, mount options.
// Used by the pool schema (at load) and by the node transport (volume_context is external
// input and is checked again there).
import { posix } from 'node:path';

export class DescriptorError extends Error {
  constructor(message: string) { super(message); this.name = 'DescriptorError'; }
}

// A DNS name (labels of letters, digits, '-'), an IPv4 address, or a bracketed IPv6 address.
const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\]$/;

export function checkServer(server: string): string {
  // A name whose last label is all digits is a mistyped address, not a host name.
  const name = HOST_NAME.test(server) && !/(^|\.)\d+\.?$/.test(server);
  if (!(IPV4.test(server) || IPV6.test(server) || name)) {
    throw new DescriptorError(`nfs server ${JSON.stringify(server)} is not a host name, IPv4 address or [IPv6] address`);
  }
  return server;
}

/** Absolute, already normalized (no "//", ".", "..", trailing "/"), printable, no ',' or ':'. */
export function checkExportPath(path: string, field = 'nfs export'): string {
  if (path.length > 1024 || !/^\/[\x21-\x7e]*$/.test(path) || /[,:\\]/.test(path)) {
    throw new DescriptorError(`${field} ${JSON.stringify(path)} must be an absolute path of printable characters without spaces, ',', ':' or '\\'`);
  }
  if (path !== '/' && (posix.normalize(path) !== path || path.endsWith('/'))) {
    throw new DescriptorError(`${field} ${JSON.stringify(path)} is not normalized (no "//", ".", ".." or trailing "/")`);
  }
  return path;
}

// Mount options NFS volumes may carry: flag names, and name=value with a value grammar.
const FLAGS = new Set([
  'hard', 'soft', 'softerr', 'softreval', 'nosoftreval', 'intr', 'nointr', 'ac', 'noac', 'cto', 'nocto',
  'lock', 'nolock', 'acl', 'noacl', 'rdirplus', 'nordirplus', 'sharecache', 'nosharecache', 'resvport',
  'noresvport', 'fsc', 'nofsc', 'ro', 'rw', 'noatime', 'atime', 'nodiratime', 'relatime', 'strictatime',
  'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'sync', 'async', 'tcp', 'udp', 'rdma',
]);
const VALUED: Record<string, RegExp> = {
  vers: /^(3|4|4\.0|4\.1|4\.2)$/, nfsvers: /^(3|4|4\.0|4\.1|4\.2)$/, minorversion: /^[0-2]$/,
  proto: /^(tcp|tcp6|udp|udp6|rdma|rdma6)$/, mountproto: /^(tcp|tcp6|udp|udp6)$/,
  port: /^\d{1,5}$/, mountport: /^\d{1,5}$/, mountvers: /^[1-3]$/,
  timeo: /^\d{1,6}$/, retrans: /^\d{1,3}$/, retry: /^\d{1,5}$/, rsize: /^\d{1,8}$/, wsize: /^\d{1,8}$/,
  nconnect: /^([1-9]|1[0-6])$/, max_connect: /^\d{1,2}$/, actimeo: /^\d{1,6}$/, acregmin: /^\d{1,6}$/,
  acregmax: /^\d{1,6}$/, acdirmin: /^\d{1,6}$/, acdirmax: /^\d{1,6}$/, namlen: /^\d{1,4}$/,
  sec: /^(sys|krb5|krb5i|krb5p|none)(:(sys|krb5|krb5i|krb5p|none))*$/, lookupcache: /^(all|none|pos|positive)$/,
  local_lock: /^(none|all|flock|posix)$/, xprtsec: /^(none|tls|mtls)$/,
  clientaddr: /^([0-9.]{7,15}|[0-9A-Fa-f:]{2,39})$/,
};

/** Checks one mount option against the allow-list; returns it unchanged. */
export function checkOption(opt: string): string {
  const eq = opt.indexOf('=');
  if (eq < 0) {
    if (FLAGS.has(opt)) return opt;
    throw new DescriptorError(`nfs mount option ${JSON.stringify(opt)} is not one poolcsi passes to mount (allowed flags: ${[...FLAGS].join(', ')})`);
  }
  const name = opt.slice(0, eq);
  const value = opt.slice(eq + 1);
  const grammar = VALUED[name];
  if (!grammar) throw new DescriptorError(`nfs mount option ${JSON.stringify(name)} is not allowed (allowed: ${Object.keys(VALUED).join(', ')})`);
  if (!grammar.test(value)) throw new DescriptorError(`nfs mount option ${name}=${JSON.stringify(value)} has an invalid value`);
  return opt;
}


// The `subdir` template: variables and literal path segments (no ".", "..", ".poolcsi*").
export const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/;
export const VARIABLE = /\$\{([a-z.]+)\}/g;
const VARIABLES = ['pv.name', 'pvc.name', 'pvc.namespace', 'volume.name'] as const;

/** Template check at pool load: known variables only, literal parts in the segment grammar. */
export function checkSubdirTemplate(t: string): string | undefined {
  if (!t || t.length > 255 || t.startsWith('/') || t.endsWith('/')) return 'subdir must be a relative path such as "${pvc.namespace}/${pvc.name}"';
  for (const m of t.matchAll(VARIABLE)) {
    if (!(VARIABLES as readonly string[]).includes(m[1]!)) return `subdir: unknown variable \${${m[1]}} (known: ${VARIABLES.map((v) => `\${${v}}`).join(', ')})`;
  }
  const literal = t.replace(VARIABLE, 'x');
  for (const seg of literal.split('/')) {
    if (!SEGMENT.test(seg)) return `subdir: path segment "${seg}" must be letters, digits and "_.+-" (not starting with "." or "-")`;
  }
  if (literal.split('/')[0]!.startsWith('.poolcsi')) return 'subdir: names starting with ".poolcsi" are reserved';
  return undefined;
}

