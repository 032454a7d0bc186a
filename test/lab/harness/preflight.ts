// Before booting anything: is this host able to run the lab? Says exactly what is missing
// (and which Debian package brings it), so `npm run test:lab` fails with a fix, never a hang
// or a silent skip.
import { accessSync, constants, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_JS, INIT_SCRIPT, NODE_MOUNT_POINTS } from './paths.js';
import type { Requirement } from './requirements.js';

/** The PATH of a lab node, which runs the host's own programs. */
export const NODE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
export const UML_MODULES_ROOT = '/usr/lib/uml/modules';

export class PreflightError extends Error {
  override name = 'PreflightError';
}

export function findProgram(program: string): string | undefined {
  if (program.startsWith('/')) return isExecutable(program) ? program : undefined;
  for (const dir of NODE_PATH) {
    const path = join(dir, program);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The release of the UML kernel's modules (/usr/lib/uml/modules/<release>). */
export function umlKernelRelease(): string | undefined {
  if (!existsSync(UML_MODULES_ROOT)) return undefined;
  return readdirSync(UML_MODULES_ROOT).sort().at(-1);
}

export interface PreflightOptions {
  requirements: Requirement[];
  /** Files that must exist, with what to do when one does not. */
  files?: { path: string; fix: string }[];
  /** For tests of the preflight itself. */
  uid?: number;
  findProgram?: (program: string) => string | undefined;
}

/** The problems found; empty when the lab can run. */
export function preflightProblems(opts: PreflightOptions): string[] {
  const problems: string[] = [];
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  if (process.platform !== 'linux') problems.push(`the lab needs Linux (this is ${process.platform})`);
  if (uid !== 0) {
    problems.push(`the lab must run as root (uid is ${uid}): it creates network namespaces and boots User-Mode Linux`);
  }
  const find = opts.findProgram ?? findProgram;
  const missing = new Map<string, string[]>();
  for (const { program, pkg } of opts.requirements) {
    if (find(program)) continue;
    missing.set(pkg, [...(missing.get(pkg) ?? []), program]);
  }
  for (const [pkg, programs] of missing) problems.push(`missing ${programs.join(', ')} (Debian package ${pkg})`);
  if (find('linux.uml') && !umlKernelRelease()) {
    problems.push(`no UML kernel modules in ${UML_MODULES_ROOT} (Debian package user-mode-linux)`);
  }
  for (const { path, fix } of opts.files ?? []) {
    if (!existsSync(path)) problems.push(`missing ${path}: ${fix}`);
  }
  return problems;
}

export function preflightMessage(problems: string[]): string {
  return [
    'the lab cannot run on this host:',
    ...problems.map((p) => `  - ${p}`),
    'Install what is missing with: sudo bash test/lab/install-deps.sh (then npm run test:lab as root)',
  ].join('\n');
}

/** Throws a PreflightError naming everything that is missing. As root, also creates the
 * (empty) host directories that nodes mount their private state over. */
export function preflight(opts: PreflightOptions): void {
  const problems = preflightProblems({
    ...opts,
    files: [
      { path: INIT_SCRIPT, fix: 'the lab node scripts are missing from the source tree' },
      { path: AGENT_JS, fix: 'the lab agent is not compiled: run npm run build' },
      ...(opts.files ?? []),
    ],
  });
  if (problems.length) throw new PreflightError(preflightMessage(problems));
  for (const dir of NODE_MOUNT_POINTS) mkdirSync(dir, { recursive: true });
}
