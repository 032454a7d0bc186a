// csi-sanity against an rbd pool inside a lab node: a real Ceph (mon + memstore OSD + mgr) and
// the kernel RBD client (krbd, -o noudev). Mount and block. cephx is given the way Kubernetes
// gives it: as CSI secrets on every call that carries them (NodeStageVolumeSecret included:
// the node maps with it); the controller calls that carry none (GetCapacity, ListVolumes) use
// the pool's secretRef, read from a Secret directory (--secrets-dir). The node side needs no
// credentials after NodeStageVolume. The driver logs at debug level, and its log
// must not hold the key anywhere.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runSanity } from './harness/index.js';
import { checkSanity } from '../sanity/check.js';
import { cephKey, rbdPoolYaml, sanitySecrets, startMgr, writeIn, writeSecretDir } from './rbd-support.js';

const SECRETS_FILE = '/run/lab/rbd/csi-secrets.yaml';
const SECRETS_DIR = '/run/lab/rbd/secrets';

test('csi-sanity passes against an rbd pool with krbd in a lab node (mount and block)', async (t) => {
  let key = '';
  const result = await runSanity({
    name: 'sanity-rbd',
    services: ['ceph'],
    nodeId: 'sanity-rbd',
    memMiB: 1536,
    poolsYaml: rbdPoolYaml({ monhost: '127.0.0.1:6789' }),
    volumeParameters: { pool: 'ceph' },
    prepare: async (node) => {
      key = await cephKey(node);
      await writeIn(node, SECRETS_FILE, sanitySecrets(key));
      await writeSecretDir(node, SECRETS_DIR, key);
      await startMgr(node);
    },
    driverArgs: ['--secrets-dir', SECRETS_DIR],
    // 64 MiB volumes (the memstore OSD holds 2 GiB), grown to 128 MiB by the expansion specs.
    sanityArgs: [`--csi.secrets=${SECRETS_FILE}`, '--csi.testvolumesize=67108864', '--csi.testvolumeexpandsize=134217728'],
    modes: ['mount', 'block'],
    timeoutMs: 40 * 60_000,
  });
  for (const line of result.timings) t.diagnostic(line);
  for (const m of result.modes) {
    t.diagnostic(`csi-sanity rbd/${m.mode}: ${(m.durationMs / 1000).toFixed(1)} s`);
    checkSanity(t, 'rbd', m, result.driverLog, 71);
  }
  assert.ok(key.length > 20, 'the key was read');
  const log = readFileSync(result.driverLog, 'utf8');
  assert.ok(log.includes('"secrets":"[REDACTED]"'), 'debug logging saw the secrets (and redacted them)');
  assert.ok(!log.includes(key), `the cephx key appears in the driver log ${result.driverLog}`);
  assert.ok(!log.includes(key.slice(0, 20)), 'not even a prefix of the key');
});
