// `poolcsi scan rbd` over FakeRbd: owners, parents, states, trash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RbdBackend } from '../../src/backends/rbd/backend.js';
import { withKeyfile, makeCephx } from '../../src/backends/rbd/credentials.js';
import { CephCli } from '../../src/backends/rbd/cli.js';
import { Images } from '../../src/backends/rbd/images.js';
import { scanRbd } from '../../src/cli/scan-rbd.js';
import { CALL, FakeRbd, KEY, rbdPool } from './rbd-helpers.js';

test('scan shows owner, parent and state of every image, and the trash', async () => {
  const fake = new FakeRbd();
  const pool = rbdPool();
  const b = new RbdBackend(pool, fake, 'node-a');
  const spec = { requestName: 'x', sizeBytes: 1 << 20, limitBytes: 0, mode: 'block' as const, params: {} };
  await b.createVolume({ ...spec, name: 'gold', pvc: { namespace: 'vms', name: 'golden' } }, CALL);
  await b.createSnapshot('gold', 'snap-1', 'snap-1', CALL);
  await b.createVolume({ ...spec, name: 'vm1', source: { kind: 'snapshot', volume: 'gold', snapshot: 'snap-1' }, pvc: { namespace: 'vms', name: 'vm1' } }, CALL);
  await b.deleteVolume('gold', CALL);
  await b.createVolume({ ...spec, name: 'half' }, CALL);
  fake.byName('half')!.meta.clear();
  const r = await withKeyfile(makeCephx('admin', KEY, 'test'), (keyfile) =>
    scanRbd(pool, new Images(new CephCli(fake, pool, { monhost: pool.monhost, user: 'admin', keyfile, timeoutSeconds: 10 }))));
  const by = Object.fromEntries(r.images.map((i) => [i.image, i]));
  assert.equal(by.gold?.state, 'deleted');
  assert.equal(by.gold?.snapshots, 1);
  assert.equal(by.vm1?.owner, 'vms/vm1');
  assert.equal(by.vm1?.parent, 'gold@snap-1');
  assert.equal(by.half?.state, 'not-poolcsi');
  assert.deepEqual(r.trash, []);
});
