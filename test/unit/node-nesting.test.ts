// Staging and target paths nested inside another volume (issue 12: the fuzz found
// unstage-busy-internal and unpublish-nested-erofs-internal). Real mounts on the host: root only.
// Before the fix a staging path inside a published volume was accepted (a directory made in that
// volume's data, and later "umount: target is busy" answered INTERNAL), and NodeUnpublish of a
// path inside a volume removed what was there (a user's file) or answered INTERNAL (EROFS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { readMounts } from '../../src/sys/mountinfo.js';
import { MOUNT_CAP, rejectsWith, startPoolcsi, type Harness } from './helpers.js';

const skip = process.getuid?.() === 0 ? false : 'mounts on the host: root only';

/** Unmounts whatever a test left under `dir`, deepest first (shared propagation makes copies). */
async function unmountUnder(dir: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const left = (await readMounts()).filter((m) => m.mountPoint.startsWith(`${dir}/`)).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    if (!left.length) return;
    try { execFileSync('umount', ['--', left[0]!.mountPoint], { stdio: 'ignore' }); } catch { /* a peer went with another */ }
  }
}

const contexts = new Map<string, Record<string, string>>();

async function withVolumes(fn: (h: Harness, ids: string[], paths: { stage: (n: string) => string; target: (n: string) => string }) => Promise<void>): Promise<void> {
  const h = await startPoolcsi();
  try {
    const ids: string[] = [];
    for (const name of ['vol-a', 'vol-b']) {
      const r = await h.controller('CreateVolume', { name, volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local' }, capacity_range: { required_bytes: '1048576' } });
      ids.push(r.volume.volume_id);
      contexts.set(r.volume.volume_id, r.volume.volume_context);
    }
    await fn(h, ids, { stage: (n) => join(h.dir, 'stage', n), target: (n) => join(h.dir, 'target', n) });
  } finally {
    await unmountUnder(h.dir);
    await h.stop();
  }
}

const stage = (h: Harness, id: string, path: string) => h.node('NodeStageVolume', { volume_id: id, staging_target_path: path, volume_capability: MOUNT_CAP, volume_context: contexts.get(id) });
const publish = (h: Harness, id: string, staging: string, target: string, readonly = false) =>
  h.node('NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: MOUNT_CAP, readonly });

test('a staging or target path inside another volume is refused (FAILED_PRECONDITION) and nothing is made in that volume', { skip }, async () => {
  await withVolumes(async (h, [a, b], p) => {
    await stage(h, a!, p.stage('a'));
    await publish(h, a!, p.stage('a'), p.target('a'));
    await stage(h, b!, p.stage('b'));
    const refused: Array<() => Promise<unknown>> = [
      () => stage(h, b!, join(p.target('a'), 'x')), // inside a's published filesystem
      () => stage(h, b!, join(p.stage('a'), 'mount', 'y')), // inside a's staged filesystem
      () => stage(h, b!, join(p.stage('a'), 'inner')), // inside a's staging directory (its stash)
      () => publish(h, b!, p.stage('b'), join(p.target('a'), 'x')),
      () => publish(h, b!, p.stage('b'), `${p.target('a')}//x`),
      () => publish(h, b!, p.stage('b'), join(p.stage('a'), 't')),
    ];
    for (const r of refused) assert.match(await rejectsWith(r(), status.FAILED_PRECONDITION), /lies inside (the volume staged at|the staging directory) /);
    for (const made of [join(p.target('a'), 'x'), join(p.stage('a'), 'mount', 'y'), join(p.stage('a'), 'inner'), join(p.stage('a'), 't')]) {
      assert.equal(existsSync(made), false, `${made} was not made`);
    }
    // The ordinary paths still work, and again (idempotent).
    await publish(h, b!, p.stage('b'), p.target('b'));
    await publish(h, b!, p.stage('b'), p.target('b'));
    for (const [id, n] of [[a!, 'a'], [b!, 'b']] as const) {
      await h.node('NodeUnpublishVolume', { volume_id: id, target_path: p.target(n) });
      await h.node('NodeUnstageVolume', { volume_id: id, staging_target_path: p.stage(n) });
    }
  });
});

test('NodeUnpublish of a path inside a published volume removes nothing of that volume, read-only or not', { skip }, async () => {
  await withVolumes(async (h, [a], p) => {
    await stage(h, a!, p.stage('a'));
    await publish(h, a!, p.stage('a'), p.target('a'));
    await publish(h, a!, p.stage('a'), p.target('a-ro'), true);
    await writeFile(join(p.target('a'), 'file'), 'a user\'s data\n');
    await mkdir(join(p.target('a'), 'empty'));
    await h.node('NodeUnpublishVolume', { volume_id: a, target_path: join(p.target('a'), 'file') });
    await h.node('NodeUnpublishVolume', { volume_id: a, target_path: `${p.target('a')}//empty` });
    await h.node('NodeUnpublishVolume', { volume_id: a, target_path: `${p.target('a-ro')}//empty` }); // was INTERNAL (EROFS)
    await h.node('NodeUnpublishVolume', { volume_id: a, target_path: join(p.stage('a'), 'mount', 'file') });
    assert.equal(readFileSync(join(p.target('a'), 'file'), 'utf8'), 'a user\'s data\n', 'the file inside the volume is kept');
    assert.ok(existsSync(join(p.target('a'), 'empty')), 'the directory inside the volume is kept');
    // Outside any volume: a file with content is not an empty block target this node made.
    await mkdir(p.target('x'), { recursive: true });
    await writeFile(join(p.target('x'), 'notours'), 'kept\n');
    assert.match(await rejectsWith(h.node('NodeUnpublishVolume', { volume_id: a, target_path: join(p.target('x'), 'notours') }), status.FAILED_PRECONDITION), /not the empty file/);
    assert.equal(readFileSync(join(p.target('x'), 'notours'), 'utf8'), 'kept\n');
    for (const t of ['a', 'a-ro']) await h.node('NodeUnpublishVolume', { volume_id: a, target_path: p.target(t) });
    await h.node('NodeUnstageVolume', { volume_id: a, staging_target_path: p.stage('a') });
    assert.equal(existsSync(p.target('a')), false);
  });
});

test('a mount below a staged or published volume: unpublish and unstage answer FAILED_PRECONDITION, unmount nothing, and finish once it is gone', { skip }, async () => {
  await withVolumes(async (h, [a], p) => {
    await stage(h, a!, p.stage('a'));
    await publish(h, a!, p.stage('a'), p.target('a'));
    await writeFile(join(p.target('a'), 'data'), 'still here\n');
    // What an older poolcsi let a confused CO make: a mount inside the volume.
    await mkdir(join(p.target('a'), 'sub'));
    execFileSync('mount', ['-t', 'tmpfs', 'nested', join(p.target('a'), 'sub')]);
    assert.match(await rejectsWith(h.node('NodeUnpublishVolume', { volume_id: a, target_path: p.target('a') }), status.FAILED_PRECONDITION), /mount\(s\) below/);
    const mounts = await readMounts();
    assert.ok(mounts.some((m) => m.mountPoint === p.target('a')), 'the target is still mounted');
    execFileSync('mount', ['-t', 'tmpfs', 'nested2', join(p.stage('a'), 'mount', 'sub')]);
    assert.match(await rejectsWith(h.node('NodeUnstageVolume', { volume_id: a, staging_target_path: p.stage('a') }), status.FAILED_PRECONDITION), /mount\(s\) below/);
    assert.ok((await readMounts()).some((m) => m.mountPoint === join(p.stage('a'), 'mount')), 'the volume is still staged');
    assert.ok(existsSync(join(p.stage('a'), 'poolcsi-stage.json')), 'its stash is kept');
    // The CO (or an operator) clears the nested mounts; the same calls then finish.
    for (const m of (await readMounts()).filter((x) => x.fsType === 'tmpfs' && x.mountPoint.startsWith(`${h.dir}/`)).reverse()) {
      try { execFileSync('umount', ['--', m.mountPoint], { stdio: 'ignore' }); } catch { /* gone with a peer */ }
    }
    await h.node('NodeUnpublishVolume', { volume_id: a, target_path: p.target('a') });
    await h.node('NodeUnstageVolume', { volume_id: a, staging_target_path: p.stage('a') });
    assert.equal(readFileSync(join(h.dir, 'pool', 'volumes', 'vol-a', 'data', 'data'), 'utf8'), 'still here\n', 'the volume\'s data is intact');
  });
});
