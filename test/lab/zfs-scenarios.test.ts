// zfspool scenarios on real OpenZFS in the lab's ZFS guest (harness/zfsguest.ts), through the
// driver's CSI calls: clones and restores are thin (the parent's `used` barely moves), a
// volume with a clone can be deleted (it is hidden and destroyed with its last clone, and the
// clone keeps its data), and a thick volume larger than the pool answers RESOURCE_EXHAUSTED;
// and a driver SIGKILLed in the middle of a clone (between its ZFS steps) ends correct after
// the CO's retry, with nothing half made left or listed.
// Opt-in (POOLCSI_LAB_ZFS=1), like zfs-sanity.test.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DRIVER_MAIN, pollUntil, startDriver, startZfsGuest, type LabNode, type NodeDriver } from './harness/index.js';

const ENABLED = process.env.POOLCSI_LAB_ZFS === '1';
const OPT_IN = { skip: ENABLED ? false : 'opt-in: POOLCSI_LAB_ZFS=1 (boots the QEMU ZFS guest; builds its image when not cached)', timeout: 60 * 60_000 };
const MiB = 1024 * 1024;
const GRPC_RESOURCE_EXHAUSTED = 8;
const FS_CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: '', mount_flags: [] } };
const BLOCK_CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} };
const PARENT = 'tank/k8s';

/** A CSI call that must succeed; its response. */
async function ok(driver: NodeDriver, method: string, req: object): Promise<any> {
  const r = await driver.call(method, req);
  assert.ok(r.ok, `${method}: ${JSON.stringify(r)}`);
  return r.response;
}

/** CreateVolume in the guest's pool with one capability. */
function createIn(driver: NodeDriver, cap: object, name: string, bytes: number, extra: object = {}): Promise<any> {
  return ok(driver, 'Controller.CreateVolume', {
    name, volume_capabilities: [cap], parameters: { pool: 'zfs' }, capacity_range: { required_bytes: String(bytes) }, ...extra,
  });
}

async function used(g: LabNode, dataset: string): Promise<number> {
  const out = (await g.run(['zfs', 'list', '-H', '-p', '-o', 'used', dataset])).stdout.trim();
  assert.match(out, /^[0-9]+$/, `zfs list used of ${dataset}: ${out}`);
  return Number(out);
}

async function children(g: LabNode): Promise<string[]> {
  return (await g.run(['zfs', 'list', '-H', '-r', '-d', '1', '-o', 'name', PARENT])).stdout.split('\n').filter((l) => l && l !== PARENT);
}

async function sha(g: LabNode, file: string): Promise<string> {
  return (await g.run(['sha256sum', file])).stdout.split(' ')[0]!;
}

test('zfspool in the ZFS guest: thin clones and restores, delete with clones, pool full',
  OPT_IN,
  async (t) => {
    const NODE = 'zfs-scenarios';
    const z = await startZfsGuest({ name: NODE, diskBytes: 2 * 1024 ** 3 });
    const g = z.guest;
    try {
      for (const l of z.lab.report()) t.diagnostic(l);
      const poolsFile = join(g.runDir, 'pools.yaml');
      writeFileSync(poolsFile, `pools:\n  - {id: zfs, type: zfspool, pool: ${PARENT}}\n`);
      const driver = await startDriver(g, { nodeId: NODE, poolsFile, readyTimeoutMs: 300_000 });
      try {
        const call = (method: string, req: object) => ok(driver, method, req);
        const create = (name: string, bytes: number, extra: object = {}) => createIn(driver, FS_CAP, name, bytes, extra);

        // A 256 MiB filesystem volume with 48 MiB of data.
        const src = (await create('pvc-src', 256 * MiB)).volume.volume_id as string;
        const file = `/${PARENT}/pvc-src/data`;
        await g.run(['dd', 'if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=48', 'conv=fsync', 'status=none'], { timeoutMs: 300_000 });
        await g.run(['zpool', 'sync', 'tank']);
        const digest = await sha(g, file);
        const before = await used(g, PARENT);

        // Clone (volume source) and restore (snapshot source), the restore bigger than its source.
        const clone = (await create('pvc-clone', 256 * MiB, { volume_content_source: { volume: { volume_id: src } } })).volume.volume_id as string;
        const snap = (await call('Controller.CreateSnapshot', { name: 'snap-a', source_volume_id: src })).snapshot.snapshot_id as string;
        const restore = (await create('pvc-restore', 512 * MiB, { volume_content_source: { snapshot: { snapshot_id: snap } } })).volume;
        assert.equal(restore.capacity_bytes, String(512 * MiB));
        await g.run(['zpool', 'sync', 'tank']);
        const after = await used(g, PARENT);
        t.diagnostic(`used of ${PARENT}: ${before} bytes before the clone and the restore, ${after} after (+${after - before})`);
        assert.ok(after - before < 2 * MiB, `a clone and a restore of 48 MiB of data added ${after - before} bytes: not thin`);
        assert.equal(await sha(g, `/${PARENT}/pvc-clone/data`), digest);
        assert.equal(await sha(g, `/${PARENT}/pvc-restore/data`), digest);

        // Delete the source while its clone, its restore and its snapshot live: OK, hidden.
        await call('Controller.DeleteVolume', { volume_id: src });
        const listed = (await call('Controller.ListVolumes', {})).entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id);
        assert.ok(!listed.includes(src), `the deleted volume is still listed: ${listed.join(', ')}`);
        const left = await children(g);
        t.diagnostic(`after deleting the source: ${left.join(', ')}`);
        assert.ok(!left.includes(`${PARENT}/pvc-src`), 'the name is free');
        assert.equal(left.filter((d) => d.startsWith(`${PARENT}/trash:`)).length, 1, 'the source waits in the trash');
        assert.equal(await sha(g, `/${PARENT}/pvc-clone/data`), digest, 'the clone keeps its data');
        // The snapshot of the deleted volume is still a snapshot: a new restore works.
        const restore2 = (await create('pvc-restore2', 256 * MiB, { volume_content_source: { snapshot: { snapshot_id: snap } } })).volume.volume_id as string;
        // A new volume may take the freed name at once.
        const reborn = (await create('pvc-src', 64 * MiB)).volume.volume_id as string;

        // `poolcsi scan zfs` on the node: the pool and the parent dataset; the trash (there now) left out.
        const scan = await g.run([process.execPath, DRIVER_MAIN, 'scan', 'zfs', '--json'], { timeoutMs: 120_000 });
        t.diagnostic(`poolcsi scan zfs --json: ${scan.stdout.trim()}`);
        assert.match(scan.stdout, /"tank\/k8s"/);
        assert.doesNotMatch(scan.stdout, /trash:/);

        // Remove every dependent: the trash goes with the last one.
        await call('Controller.DeleteSnapshot', { snapshot_id: snap });
        for (const id of [clone, restore.volume_id as string, restore2, reborn]) await call('Controller.DeleteVolume', { volume_id: id });
        const rest = await children(g);
        assert.deepEqual(rest, [], `left under ${PARENT}: ${rest.join(', ')}`);
        assert.equal((await g.run(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', PARENT])).stdout.trim(), '', 'no snapshot left');

        // Pool full: a thick (sparse=false) volume bigger than the pool.
        const full = await driver.call('Controller.CreateVolume', {
          name: 'pvc-huge', volume_capabilities: [FS_CAP], parameters: { pool: 'zfs', sparse: 'false' }, capacity_range: { required_bytes: String(8 * 1024 * MiB) },
        });
        assert.ok(!full.ok, 'an 8 GiB thick volume on a 2 GiB pool must fail');
        t.diagnostic(`thick 8 GiB on a 2 GiB pool: code ${full.code}: ${full.details}`);
        assert.equal(full.code, GRPC_RESOURCE_EXHAUSTED, full.details);
        assert.deepEqual(await children(g), [], 'nothing left by the failed create');
      } finally {
        await driver.stop();
      }
    } finally {
      await z.lab.close();
    }
  });

/** sha256 of the first `bytes` of a zvol, once ZFS's udev rule has made its /dev/zvol link. */
async function zvolDigest(g: LabNode, dataset: string, bytes: number): Promise<string> {
  const dev = `/dev/zvol/${dataset}`;
  await pollUntil(async () => ((await g.exec(['test', '-e', dev])).code === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 500, what: dev });
  const out = await g.run(['sh', '-c', 'head -c "$1" "$2" | sha256sum', 'digest', String(bytes), dev], { timeoutMs: 300_000 });
  return out.stdout.split(' ')[0]!;
}

test('zfspool in the ZFS guest: SIGKILL mid-clone, then the retry',
  OPT_IN,
  async (t) => {
    const NODE = 'zfs-kill';
    const z = await startZfsGuest({ name: NODE, diskBytes: 2 * 1024 ** 3 });
    const g = z.guest;
    const poolsFile = join(g.runDir, 'pools.yaml');
    writeFileSync(poolsFile, `pools:\n  - {id: zfs, type: zfspool, pool: ${PARENT}}\n`);
    const start = () => startDriver(g, { nodeId: NODE, poolsFile, readyTimeoutMs: 300_000 });
    let driver: NodeDriver = await start();
    try {
      // `driver` is replaced after each kill: look it up at every call.
      const call = (method: string, req: object) => ok(driver, method, req);
      const createBlock = (name: string, bytes: number, extra: object = {}) => createIn(driver, BLOCK_CAP, name, bytes, extra);

      // ---- SIGKILL in the middle of a clone, then the CO's retry -----------------------------
      const src = (await createBlock('kill-src', 64 * MiB)).volume.volume_id as string;
      await g.run(['dd', 'if=/dev/urandom', `of=/dev/zvol/${PARENT}/kill-src`, 'bs=1M', 'count=8', 'conv=fsync', 'status=none'], { timeoutMs: 300_000 });
      const digest = await zvolDigest(g, `${PARENT}/kill-src`, 8 * MiB);
      const snap = (await call('Controller.CreateSnapshot', { name: 'kill-snap', source_volume_id: src })).snapshot.snapshot_id as string;

      /**
       * Sends CreateVolume, and inside the guest SIGKILLs the driver the moment `trigger` (a
       * shell test) is true, then restarts it. Returns what the killer saw.
       */
      const killedCreate = async (name: string, req: object, trigger: string): Promise<{ seen: string; answered: boolean }> => {
        const killer = g.exec(['sh', '-c', `until ${trigger}; do :; done; kill -9 "$1"; zfs get -H -p -o name,value poolcsi.io:complete -r -t filesystem,volume ${PARENT} | grep -F "/${name}" || echo "${name} absent"`, 'killer', String(driver.pid)], { timeoutMs: 600_000 });
        const answer = driver.call('Controller.CreateVolume', { name, volume_capabilities: [BLOCK_CAP], parameters: { pool: 'zfs' }, ...req }).catch((e: Error) => ({ ok: false as const, code: -1, details: e.message }));
        const seen = (await killer).stdout.trim();
        const r = await answer;
        await pollUntil(() => (driver.down() ? true : undefined), { timeoutMs: 60_000, what: 'the killed driver gone' });
        driver = await start();
        return { seen, answered: r.ok };
      };

      // 1. A restore bigger than its snapshot: clone, then grow and mark complete. Killed once the
      //    clone exists, i.e. (almost always) before it is grown.
      const seenA = await killedCreate('kill-a', { capacity_range: { required_bytes: String(128 * MiB) }, volume_content_source: { snapshot: { snapshot_id: snap } } },
        `zfs list -H -o name ${PARENT}/kill-a >/dev/null 2>&1`);
      const halfA = /\t-$/.test(seenA.seen);
      t.diagnostic(`killed during the restore (${seenA.answered ? 'it had answered OK already' : 'unanswered'}); the dataset then: ${seenA.seen}`);
      const listed = (await call('Controller.ListVolumes', {})).entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id);
      if (halfA) assert.ok(!listed.includes('zfs:kill-a'), `a half-made volume is listed: ${listed.join(', ')}`);
      const a = (await createBlock('kill-a', 128 * MiB, { volume_content_source: { snapshot: { snapshot_id: snap } } })).volume;
      assert.equal(a.capacity_bytes, String(128 * MiB));
      assert.equal(await zvolDigest(g, `${PARENT}/kill-a`, 8 * MiB), digest, 'the retried restore holds the snapshot');
      assert.equal((await g.run(['zfs', 'get', '-H', '-p', '-o', 'value', 'volsize', `${PARENT}/kill-a`])).stdout.trim(), String(128 * MiB));

      // 2. A volume-to-volume clone: an internal snapshot of the source, then the clone. Killed
      //    as soon as that snapshot exists.
      const seenB = await killedCreate('kill-b', { capacity_range: { required_bytes: String(64 * MiB) }, volume_content_source: { volume: { volume_id: src } } },
        `[ "$(zfs list -H -t snapshot -o name -r ${PARENT}/kill-src | grep -vc '@kill-snap$')" -gt 0 ]`);
      const halfB = /kill-b absent/.test(seenB.seen);
      t.diagnostic(`killed during the clone (${seenB.answered ? 'it had answered OK already' : 'unanswered'}); the dataset then: ${seenB.seen}`);
      // The kill points depend on the emulated guest's speed; at least one must fall between steps.
      assert.ok(halfA || halfB, `neither kill landed mid-create (restore: ${seenA.seen}; clone: ${seenB.seen})`);
      const b = (await createBlock('kill-b', 64 * MiB, { volume_content_source: { volume: { volume_id: src } } })).volume;
      assert.equal(await zvolDigest(g, `${PARENT}/kill-b`, 8 * MiB), digest, 'the retried clone holds the source');
      const snaps = (await g.run(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', PARENT])).stdout.split('\n').filter(Boolean);
      t.diagnostic(`snapshots after the retries: ${snaps.join(', ')}`);
      assert.equal(snaps.filter((n) => n.startsWith(`${PARENT}/kill-src@`) && !n.endsWith('@kill-snap')).length, 1, 'one clone source snapshot, not one per attempt');

      // Every volume and snapshot goes; nothing stays under the parent.
      for (const id of [a.volume_id as string, b.volume_id as string]) await call('Controller.DeleteVolume', { volume_id: id });
      await call('Controller.DeleteSnapshot', { snapshot_id: snap });
      await call('Controller.DeleteVolume', { volume_id: src });
      assert.deepEqual(await children(g), [], 'nothing left under the parent');
      assert.equal((await g.run(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', PARENT])).stdout.trim(), '', 'no snapshot left');
    } finally {
      await driver.stop().catch(() => undefined);
      await z.lab.close();
    }
  });
