// Issue 10 "docs that are false": the install guide's examples and tables name only pool types
// the driver has, and its pools example passes the driver's own validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POOL_TYPES } from '../../src/pools/schema.js';
import { parsePools } from '../../src/pools/validate.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const doc = (name: string) => readFileSync(join(ROOT, name), 'utf8');
/** The text before the Roadmap section, which may name what does not exist yet. */
const current = (text: string) => text.split(/^## Roadmap$/m)[0]!;

test('docs/install.md: the pools example validates', () => {
  const text = doc('docs/install.md');
  const m = /### Pools, one example per type[\s\S]*?```yaml\n([\s\S]*?)```/.exec(text);
  assert.ok(m, 'no pools example');
  const pools = parsePools(m[1]!).pools;
  assert.deepEqual([...new Set(pools.map((p) => p.type))].sort(), [...POOL_TYPES].sort(), 'one example per type');
});

test('docs name only existing pool types outside the roadmap', () => {
  const planned = ['zfspool', 'zfs-iscsi', 'iscsi-luns', 'nfs', 'iscsi'].filter((t) => !POOL_TYPES.includes(t));
  for (const name of ['docs/install.md', 'docs/troubleshooting.md']) {
    const text = current(doc(name));
    // Table rows and `type: x` examples, where a pool type is named as available.
    for (const t of planned) {
      assert.doesNotMatch(text, new RegExp(`^\\|[^\\n]*\`${t}\`[^\\n]*\\|`, 'm'), `${name}: table row for ${t}`);
      assert.doesNotMatch(text, new RegExp(`type: ${t}\\b`), `${name}: example of ${t}`);
      assert.doesNotMatch(text, new RegExp(`\\(dir, lvm, lvmthin[^)]*\\b${t}\\b`), `${name}: ${t} listed as node-local`);
    }
  }
  assert.match(doc('docs/install.md'), /^## Roadmap$/m);
});

test('README links inside the repository and states what npm test needs', () => {
  const readme = doc('README.md');
  assert.doesNotMatch(readme, /\.\.\/shared/);
  assert.match(readme, /\[docs\/design\.md\]\(docs\/design\.md\)/);
  assert.match(readme, /`npm test`[^.]*about\s+\d+\s+minutes[\s\S]{0,200}helm/);
});
