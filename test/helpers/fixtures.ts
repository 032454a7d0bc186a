// Recorded command outputs (test/fixtures/), read from the source tree.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is compiled to dist/test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function fixture(path: string): string {
  return readFileSync(`${REPO_ROOT}test/fixtures/${path}`, 'utf8');
}
