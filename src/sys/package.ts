// Where poolcsi's package lies (the folder with package.json, proto/ and helpers/), found from
// this module whether it runs from src/ (tsx, tests) or dist/src/ (built, the image).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'csi.proto'))) return (root = dir);
    dir = dirname(dir);
  }
  throw new Error('proto/csi.proto not found: poolcsi\'s package folder is incomplete');
}

/** A file of the package, e.g. packageFile('helpers', 'librbd-helper.py'). */
export function packageFile(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
