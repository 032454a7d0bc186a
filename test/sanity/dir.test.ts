// csi-sanity, the official CSI conformance suite, against `poolcsi serve --mode all` with a
// `dir` pool, over a unix socket with no proxy in between. Needs root (bind mounts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSanity, startDriver } from './run.js';
import { SKIP_REASONS } from './skips.js';

test('csi-sanity passes against a dir pool (mount volumes)', { timeout: 30 * 60_000 }, async (t) => {
  const driver = await startDriver((dir) => `pools:\n  - id: local\n    type: dir\n    path: ${join(dir, 'pool')}\n`);
  try {
    await mkdir(join(driver.dir, 'pool'));
    const params = join(driver.dir, 'params.yaml');
    await writeFile(params, 'pool: local\n');
    const r = await runSanity(driver.socket, driver.dir, [`--csi.testvolumeparameters=${params}`]);
    t.diagnostic(`csi-sanity dir/mount: ${r.summary}`);
    console.log(`csi-sanity dir/mount: ${r.summary}`);
    const failures = r.specs.filter((s) => s.failure && s.state !== 'passed' && s.state !== 'skipped');
    assert.equal(r.failed, 0, `failed specs:\n${failures.map((f) => `- ${f.text}: ${f.failure}`).join('\n')}\n(driver log: ${driver.log})`);
    assert.ok(r.passed >= 70, `expected the full suite to run, got ${r.passed} passed`);
    const unexplained = r.specs.filter((s) => s.state === 'skipped' && !SKIP_REASONS.some((k) => k.match.test(s.text)));
    assert.deepEqual(unexplained.map((s) => s.text), [], 'skipped specs without a written reason in test/sanity/skips.ts');
  } finally {
    await driver.stop();
  }
});
