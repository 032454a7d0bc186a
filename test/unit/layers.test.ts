// The import graph of src/ has no upward edge (docs/design.md §5): every relative import of a
// module goes to its own folder or to a folder in a lower layer. Read from the sources, so a new
// file or import is checked the day it is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top to bottom. */
export const LAYERS = ['cli', 'csi', 'placement', 'agent', 'rpc', 'backends', 'node', 'pools', 'sys', 'exec', 'observe'];

const here = dirname(fileURLToPath(import.meta.url));
const SRC = resolve(here, '..', '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2])!);
  return out;
}

function layerOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

test('every folder of src/ has a layer', () => {
  const folders = new Set(sources(SRC).map(layerOf).filter((f) => !f.endsWith('.ts')));
  for (const f of folders) assert.ok(LAYERS.includes(f), `src/${f}/ is in no layer of docs/design.md §5`);
});

test('no module imports a folder above it', () => {
  const upward: string[] = [];
  for (const file of sources(SRC)) {
    const from = layerOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const to = layerOf(resolve(dirname(file), spec));
      if (LAYERS.indexOf(to) < LAYERS.indexOf(from)) upward.push(`${relative(SRC, file)} → ${spec} (${from} imports ${to})`);
    }
  }
  assert.deepEqual(upward, [], `upward imports:\n${upward.join('\n')}`);
});

test('the import reader sees static, re-export and dynamic imports', () => {
  const text = "import { a } from '../x/a.js';\nexport { b } from './b.js';\nimport type { C } from '../y/c.js';\nconst k = await import('../z/k.js');\nimport x from 'pkg';";
  assert.deepEqual(importsOf(text), ['../x/a.js', './b.js', '../y/c.js', '../z/k.js']);
});
