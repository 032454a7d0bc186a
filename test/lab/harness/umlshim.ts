// The ptrace shim every UML kernel of the lab runs with (../uml/xstate-shim.c says why: Debian
// 12's UML dies at its first process on hosts whose XSAVE area is larger than its buffer, e.g.
// CPUs with AMX). Built once per source version with the host's C compiler and kept outside
// the repository; harmless where UML works without it (a whole-size restore passes through).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { REPO_ROOT } from './paths.js';

export const UML_SHIM_SOURCE = join(REPO_ROOT, 'test', 'lab', 'uml', 'xstate-shim.c');
const CACHE = process.env.POOLCSI_UML_CACHE ?? '/var/tmp/poolcsi-cache/uml';

let built: string | undefined;

/** The shim's path, built when this source version has none yet. */
export function umlShim(): string {
  if (built) return built;
  const source = readFileSync(UML_SHIM_SOURCE);
  const path = join(CACHE, `xstate-shim-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.so`);
  if (!existsSync(path)) {
    mkdirSync(CACHE, { recursive: true });
    // Test files boot labs in parallel: each builds its own file and renames it into place.
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      execaSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, UML_SHIM_SOURCE, '-ldl']);
      renameSync(tmp, path);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  built = path;
  return path;
}
