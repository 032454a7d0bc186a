// csi-sanity against an `nfs` pool (no server agent) in one lab node: the node is its own
// NFS server (kernel nfsd exporting /srv/nfs) and client, over loopback. Mount mode only: an
// nfs pool has no block volumes. Once per protocol: NFSv3 (nolock: the lab runs no statd)
// and NFSv4.2.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSanity } from './harness/index.js';
import { SKIP_REASONS } from '../sanity/skips.js';

for (const [label, options] of [['v3', ['vers=3', 'nolock']], ['v4.2', ['vers=4.2']]] as const) {
  test(`csi-sanity passes against an nfs pool over NFS${label} (mount)`, async (t) => {
    const result = await runSanity({
      name: `nfs-sanity-${label}`,
      services: ['nfs'],
      nodeId: `nfs-sanity-${label.replace('.', '')}`,
      poolsYaml: [
        'pools:',
        '  - id: shared',
        '    type: nfs',
        '    server: 127.0.0.1',
        '    export: /srv/nfs',
        `    options: [${options.join(', ')}]`,
        '    timeoutSeconds: 10',
        '',
      ].join('\n'),
      volumeParameters: { pool: 'shared' },
      modes: ['mount'],
    });
    for (const line of result.timings) t.diagnostic(line);
    const [mount] = result.modes;
    assert.ok(mount);
    t.diagnostic(`csi-sanity nfs ${label}/mount: ${mount.summary} (${(mount.durationMs / 1000).toFixed(1)} s)`);
    const failures = mount.specs.filter((s) => !['passed', 'skipped', 'pending'].includes(s.state));
    assert.equal(
      mount.failed,
      0,
      `failed specs:\n${failures.map((f) => `- ${f.text}: ${f.failure ?? f.state}`).join('\n')}\n(output: ${mount.outputFile}; driver log: ${result.driverLog})`,
    );
    assert.ok(mount.passed > 0, `no spec passed: ${mount.summary}`);
    const unexplained = mount.specs.filter((s) => s.state === 'skipped' && !SKIP_REASONS.some((k) => k.match.test(s.text)));
    assert.deepEqual(unexplained.map((s) => s.text), [], 'skipped specs without a written reason in test/sanity/skips.ts');
  });
}
