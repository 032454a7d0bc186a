// Every program the driver ran, from its debug log (`exec` lines carry program and args; `librbd`
// lines the rbd commands the librbd helper ran for it), checked against a grammar: a value from
// a request must never reach a program unchecked.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface ExecLine { program: string; args: string[]; time: number }

/** The `exec` and `librbd` lines of a pino JSON log, from byte `offset` on. */
export function execLines(logFile: string, offset = 0): ExecLine[] {
  const text = readFileSync(logFile).subarray(offset).toString('utf8');
  const out: ExecLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"exec"') && !line.includes('"librbd"')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; program?: string; args?: string[]; time?: number };
      if ((j.msg === 'exec' || j.msg === 'librbd') && typeof j.program === 'string' && Array.isArray(j.args)) out.push({ program: j.program, args: j.args, time: j.time ?? 0 });
    } catch { /* a line cut by a kill */ }
  }
  return out;
}

export interface ArgvRules {
  /** Programs the driver may run at all. */
  programs: string[];
  /** Absolute paths in argv must lie under one of these (pool paths, staging prefixes, /dev, ...). */
  roots: string[];
}

const CONTROL = /[\u0000-\u001f\u007f]/;
const FLAG = /^--?[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:=@+/%-]*)?$/;
const TOKEN = /^[A-Za-z0-9_.,:=@+/%-]*$/;
/** What a hostile request would try to slip in as a flag. */
const HOSTILE_FLAGS = new Set(['-rf', '--help', '-o=remount']);

/**
 * `rbd image-meta set SPEC KEY VALUE`: the driver keeps a volume's state as a JSON object in
 * image metadata (JSON.stringify of checked fields; rbd takes the value only as an argument).
 * That last argument may be any JSON object; everything else is held to the token grammar.
 */
function isMetadataJson(e: ExecLine, i: number): boolean {
  const at = e.args.indexOf('image-meta');
  if (posix.basename(e.program) !== 'rbd' || at < 0 || e.args[at + 1] !== 'set' || i !== e.args.length - 1 || i !== at + 4) return false;
  try {
    const v: unknown = JSON.parse(e.args[i]!);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * `zfs create|set|snapshot ... poolcsi.io:KEY=VALUE`: a zfspool keeps its state in ZFS user
 * properties, each a JSON value (JSON.stringify of checked fields) that zfs takes only as an
 * argument. Its value must be JSON; the key is held to the grammar.
 */
function isZfsUserProperty(e: ExecLine, i: number): boolean {
  const m = /^poolcsi\.io:[a-z]+=(.*)$/s.exec(e.args[i]!);
  if (posix.basename(e.program) !== 'zfs' || !m) return false;
  try {
    JSON.parse(m[1]!);
    return true;
  } catch {
    return false;
  }
}

/** `truncate -s >N`: grow a file to at least N bytes (the iscsi file store never shrinks one). */
function isTruncateAtLeast(e: ExecLine, i: number): boolean {
  return posix.basename(e.program) === 'truncate' && e.args[i - 1] === '-s' && /^>[0-9]{1,20}$/.test(e.args[i]!);
}

/** Why this argv breaks the grammar, or [] when it does not. */
export function checkArgv(e: ExecLine, rules: ArgvRules): string[] {
  const bad: string[] = [];
  const name = posix.basename(e.program);
  if (!rules.programs.includes(name)) bad.push(`program ${e.program} is not one the driver runs`);
  let afterDashes = false;
  for (const [i, a] of e.args.entries()) {
    const show = JSON.stringify(a.length > 120 ? `${a.slice(0, 120)}...` : a);
    if (a.length > 4096) { bad.push(`argument of ${a.length} bytes`); continue; }
    if (CONTROL.test(a)) { bad.push(`control character in ${show}`); continue; }
    if (a === '--') { afterDashes = true; continue; }
    if (a.startsWith('-')) {
      if (afterDashes) bad.push(`${show} after "--" looks like a flag`);
      else if (!FLAG.test(a) || HOSTILE_FLAGS.has(a)) bad.push(`flag ${show} outside the grammar`);
      continue;
    }
    if (a.split(/[/,=]/).includes('..')) { bad.push(`".." in ${show}`); continue; }
    if (a.startsWith('/')) {
      const norm = posix.normalize(a);
      if (norm !== a && `${norm}/` !== a) bad.push(`path ${show} is not normalized`);
      else if (!rules.roots.some((r) => a === r || a.startsWith(r.endsWith('/') ? r : `${r}/`))) bad.push(`path ${show} outside the pools and prefixes`);
      continue;
    }
    if (!TOKEN.test(a) && !isMetadataJson(e, i) && !isZfsUserProperty(e, i) && !isTruncateAtLeast(e, i)) bad.push(`${show} outside the token grammar`);
  }
  return bad;
}
