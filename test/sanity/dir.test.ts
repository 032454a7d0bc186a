// csi-sanity, the official CSI conformance suite, against `poolcsi serve --mode all` with a
// `dir` pool, over a unix socket with no proxy in between. Needs root (bind mounts).
import { test } from 'node:test';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSanity, startDriver } from './run.js';
import { checkSanity } from './check.js';

test('csi-sanity passes against a dir pool (mount volumes)', { timeout: 30 * 60_000 }, async (t) => {
  const driver = await startDriver((dir) => `pools:\n  - id: local\n    type: dir\n    path: ${join(dir, 'pool')}\n`);
  try {
    await mkdir(join(driver.dir, 'pool'));
    const params = join(driver.dir, 'params.yaml');
    await writeFile(params, 'pool: local\n');
    const r = await runSanity(driver.socket, driver.dir, [`--csi.testvolumeparameters=${params}`]);
    console.log(`csi-sanity dir/mount: ${r.summary}`);
    checkSanity(t, 'dir', r, driver.log, 70);
  } finally {
    await driver.stop();
  }
});
