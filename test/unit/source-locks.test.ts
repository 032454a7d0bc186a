// issue 10 item 3: the source of a clone, a restore or a snapshot is held against its delete
// while it is copied, and a snapshot being made against its own delete. The dir backend is
// real; its runner holds each `cp` until the test lets it go, so the copy is "in progress".
// Requests are passed as proto-loader makes them (a oneof names its case in `type`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { InProcessAgent, LocalBackends } from '../../src/agent/agents.js';
import { SingleNodeDirectory } from '../../src/placement/directory.js';
import { Router } from '../../src/placement/router.js';
import type { DriverContext } from '../../src/csi/context.js';
import { controllerHandlers } from '../../src/csi/controller.js';
import { toStatus } from '../../src/csi/errors.js';
import { KeyedLocks } from '../../src/csi/locks.js';
import { local, type Runner, type RunOptions, type RunResult } from '../../src/exec/index.js';
import { PoolRegistry } from '../../src/pools/registry.js';
import { parsePools } from '../../src/pools/validate.js';

/** This machine, except that `cp` waits for release(). */
class HeldCopies implements Runner {
  readonly host = 'local';
  private gate: { promise: Promise<void>; open: () => void } = HeldCopies.newGate();
  started = 0;
  private static newGate() {
    let open!: () => void;
    const promise = new Promise<void>((r) => { open = r; });
    return { promise, open };
  }
  async run(program: string, args: readonly string[], o?: RunOptions): Promise<RunResult> {
    if (program === 'cp') {
      this.started++;
      await this.gate.promise;
    }
    return local.run(program, args, o);
  }
  release(): void {
    this.gate.open();
    this.gate = HeldCopies.newGate();
  }
}

const CAP = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: '', mount_flags: [] } };
const topo = { preferred: [{ segments: { 'topology.poolcsi.io/node': 'n1' } }] };

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return status[toStatus(e).code]!;
  }
}

test('item 3: a source being copied cannot be deleted (ABORTED), nor a snapshot being made', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-locks-'));
  try {
    await mkdir(join(dir, 'pool'));
    const registry = new PoolRegistry();
    registry.update(parsePools(`pools:\n  - {id: local, type: dir, path: ${join(dir, 'pool')}, quota: 'off'}\n`));
    const runner = new HeldCopies();
    const backends = new LocalBackends(runner, 'n1');
    const ctx: DriverContext = {
      nodeId: 'n1', registry, router: new Router(new SingleNodeDirectory(new InProcessAgent('n1', backends)), backends),
      locks: new KeyedLocks(), local: backends, knownNode: (n) => n === 'n1', pathPrefixes: [],
    };
    const c = controllerHandlers(ctx);
    const call = (m: string, req: object) => c[m]!(req, { requestId: 't' }) as Promise<any>;
    /** Waits until copy number n has started, or `pending` has failed without starting it. */
    const waitCopy = async (n: number, pending: Promise<unknown>) => {
      let settled: unknown;
      pending.then(() => { settled = new Error(`the call finished without copy ${n}`); }, (e) => { settled = e ?? new Error('failed'); });
      while (runner.started < n && settled === undefined) await new Promise((r) => setImmediate(r));
      if (settled !== undefined) throw settled;
    };

    await call('CreateVolume', { name: 'src', volume_capabilities: [CAP], parameters: { pool: 'local' }, accessibility_requirements: topo });

    // A snapshot in progress: neither it nor its volume can be deleted meanwhile.
    const snap = call('CreateSnapshot', { name: 'snap', source_volume_id: 'local:src' });
    await waitCopy(1, snap);
    assert.equal(await code(call('DeleteSnapshot', { snapshot_id: 'local:src@snap' })), 'ABORTED');
    assert.equal(await code(call('DeleteVolume', { volume_id: 'local:src' })), 'ABORTED');
    runner.release();
    assert.equal((await snap).snapshot.ready_to_use, true);

    // A clone in progress holds its source volume.
    const clone = call('CreateVolume', {
      name: 'clone', volume_capabilities: [CAP], parameters: { pool: 'local' }, volume_content_source: { type: 'volume', volume: { volume_id: 'local:src' } },
    });
    await waitCopy(2, clone);
    assert.equal(await code(call('DeleteVolume', { volume_id: 'local:src' })), 'ABORTED');
    runner.release();
    assert.equal((await clone).volume.volume_id, 'local:clone');

    // A restore in progress holds its source snapshot.
    const restore = call('CreateVolume', {
      name: 'restored', volume_capabilities: [CAP], parameters: { pool: 'local' }, volume_content_source: { type: 'snapshot', snapshot: { snapshot_id: 'local:src@snap' } },
    });
    await waitCopy(3, restore);
    assert.equal(await code(call('DeleteSnapshot', { snapshot_id: 'local:src@snap' })), 'ABORTED');
    runner.release();
    assert.equal((await restore).volume.volume_id, 'local:restored');

    // Nothing is held any more: every delete goes through and leaves nothing.
    for (const id of ['local:restored', 'local:clone', 'local:src']) assert.equal(await code(call('DeleteVolume', { volume_id: id })), 'OK');
    assert.equal(await code(call('DeleteSnapshot', { snapshot_id: 'local:src@snap' })), 'OK');
    assert.equal((await call('ListVolumes', {})).entries.length, 0);
    assert.equal((await call('ListSnapshots', {})).entries.length, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
