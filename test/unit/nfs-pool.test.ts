// The nfs pool's checks: what may reach mount(8) from a pool definition or a volume context,
// the volume directory template and its reserved names, and the controller's mount options.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { archiveName, renderSubdir } from '../../src/backends/nfs/layout.js';
import { controllerMountOptions, ExportMount } from '../../src/backends/nfs/exportmount.js';
import { StorageError } from '../../src/backends/errors.js';
import { local } from '../../src/exec/index.js';
import { tmpdir } from 'node:os';
import { traitsOf } from '../../src/backends/index.js';
import { unsupportedReason } from '../../src/csi/capability.js';
import { nfsDescriptor, nfsSource, sameSource } from '../../src/node/transports/nfs.js';
import { checkExportPath, checkOption, checkServer, checkSubdirTemplate } from '../../src/pools/nfs-grammar.js';
import { parsePools, PoolsError } from '../../src/pools/validate.js';
import type { Pool } from '../../src/pools/schema.js';

test('server: host names, IPv4 and bracketed IPv6 only', () => {
  for (const ok of ['nfs1', 'nfs.example.org', '192.168.77.1', '[fd00::1]']) assert.equal(checkServer(ok), ok);
  for (const bad of ['', '-o', 'a b', 'host:/x', 'fd00::1', '999.1.1.1.1', 'a'.repeat(300), 'x;rm']) {
    assert.throws(() => checkServer(bad), /is not a host name/, bad);
  }
});

test('export paths: absolute, normalized, no separators mount(8) would read', () => {
  for (const ok of ['/', '/srv/nfs', '/srv/k8s/pvc-1']) assert.equal(checkExportPath(ok), ok);
  for (const bad of ['srv', '/srv/', '/srv//x', '/srv/./x', '/srv/../etc', '/a,b', '/a:b', '/a b', '/a\nb']) {
    assert.throws(() => checkExportPath(bad), /nfs export/, bad);
  }
});

test('mount options: an allow-list of names, each value by grammar', () => {
  for (const ok of ['vers=4.2', 'vers=3', 'nolock', 'hard', 'nconnect=4', 'sec=krb5p', 'proto=tcp', 'timeo=600']) assert.equal(checkOption(ok), ok);
  for (const bad of ['vers=5', 'nconnect=99', 'exec=/bin/sh', 'exec=1', 'context=system_u', 'x-mount.mkdir', 'remount', 'bind', 'vers=4.2,bind', '']) {
    assert.throws(() => checkOption(bad), /nfs mount option/, bad);
  }
});

test('a volume context becomes a checked descriptor; a bad one is refused', () => {
  const d = nfsDescriptor({ 'nfs.server': '10.0.0.1', 'nfs.export': '/srv/k8s/pvc-1', 'nfs.options': 'vers=4.2,hard' }, ['noatime', 'hard']);
  assert.deepEqual(d, { server: '10.0.0.1', export: '/srv/k8s/pvc-1', options: ['vers=4.2', 'hard', 'noatime'] });
  assert.equal(nfsSource(d), '10.0.0.1:/srv/k8s/pvc-1');
  assert.ok(sameSource('10.0.0.1:/srv/k8s/pvc-1/', d), 'the kernel may show a trailing slash');
  assert.throws(() => nfsDescriptor({ 'nfs.server': '10.0.0.1' }), /no nfs.export/);
  assert.throws(() => nfsDescriptor({ 'nfs.server': '10.0.0.1', 'nfs.export': '/srv/../etc' }), /not normalized/);
  assert.throws(() => nfsDescriptor({ 'nfs.server': '10.0.0.1', 'nfs.export': '/x', 'nfs.options': 'vers=4.2,bind' }), /not one poolcsi passes/);
});

test('subdir templates: known variables, safe segments, ".poolcsi*" reserved', () => {
  assert.equal(checkSubdirTemplate('${pvc.namespace}/${pvc.name}'), undefined);
  assert.equal(checkSubdirTemplate('k8s/${pv.name}'), undefined);
  assert.match(checkSubdirTemplate('${pvc.uid}')!, /unknown variable/);
  assert.match(checkSubdirTemplate('../${pv.name}')!, /segment/);
  assert.match(checkSubdirTemplate('/abs')!, /relative/);
  assert.match(checkSubdirTemplate('.poolcsi-x/${pv.name}')!, /segment|reserved/);
  const pvc = { namespace: 'vms', name: 'disk-1', pvName: 'pvc-123' };
  assert.equal(renderSubdir('${pv.name}', 'pvc-123', pvc), 'pvc-123');
  assert.equal(renderSubdir('${pvc.namespace}/${pvc.name}', 'pvc-123', pvc), 'vms/disk-1');
  assert.equal(renderSubdir('${pv.name}', 'pvc-9'), 'pvc-9', 'without PVC metadata the volume name stands in');
  assert.throws(() => renderSubdir('${pvc.namespace}/${pvc.name}', 'pvc-9'), /--extra-create-metadata/);
  assert.throws(() => renderSubdir('${pvc.name}', 'x', { namespace: 'a', name: '..' }), /unusable segment/);
});

test('archive names are dated and sortable', () => {
  assert.equal(archiveName('pvc-1', new Date('2026-12-01T19:35:07.123Z')), 'pvc-1-20261201T193507Z');
});

test('the controller mounts soft, with timeouts from timeoutSeconds, keeping the pool protocol', () => {
  assert.deepEqual(controllerMountOptions(['vers=3', 'nolock', 'hard', 'timeo=600'], 10), ['vers=3', 'nolock', 'soft', 'timeo=33', 'retrans=1', 'retry=0']);
  assert.deepEqual(controllerMountOptions([], 1), ['soft', 'timeo=10', 'retrans=1', 'retry=0']);
});

test('pool schema: an nfs pool with defaults, and errors that name the field', () => {
  const f = parsePools('pools:\n  - id: shared\n    type: nfs\n    server: 10.0.0.1\n    export: /srv/k8s\n');
  const p = f.pools[0] as Extract<Pool, { type: 'nfs' }>;
  assert.deepEqual([p.options, p.onDelete, p.timeoutSeconds, p.subdir], [[], 'delete', 10, undefined]);
  const bad = 'pools:\n  - id: shared\n    type: nfs\n    server: "a b"\n    export: /srv/../k8s\n    options: [vers=4.2, bind]\n    onDelete: shred\n    subdir: "${pvc.uid}"\n';
  try {
    parsePools(bad);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof PoolsError);
    const text = e.problems.join('\n');
    for (const field of ['server', 'export', 'options.1', 'onDelete', 'subdir']) assert.match(text, new RegExp(`pool "shared" field ${field.replace('.', '\\.')}:`), text);
  }
});

test('traits: shared RWX filesystem; block refused with the reason', () => {
  const t = traitsOf('nfs');
  assert.equal(t.local, false);
  assert.deepEqual(t.modes, ['filesystem']);
  assert.deepEqual(t.multiNode, { filesystem: true, block: false });
  const pool = parsePools('pools:\n  - id: shared\n    type: nfs\n    server: nfs1\n    export: /srv\n').pools[0]!;
  assert.equal(unsupportedReason(pool, { mode: 'filesystem', access: 'MULTI_NODE_MULTI_WRITER', fsType: '', mountFlags: [] } as never), undefined);
  assert.match(unsupportedReason(pool, { mode: 'block', access: 'SINGLE_NODE_WRITER', fsType: '', mountFlags: [] } as never)!, /not block: an nfs pool serves directories/);
});

test('scan nfs: showmount -e output (recorded from the lab server) parses into exports and clients', async () => {
  const { readFileSync } = await import('node:fs');
  const { parseShowmount, formatNfsScan } = await import('../../src/cli/scan-nfs.js');
  const text = readFileSync(new URL('../../../test/fixtures/nfs/showmount-e.txt', import.meta.url), 'utf8');
  const exports = parseShowmount(text);
  assert.deepEqual(exports, [
    { path: '/srv/nfs', clients: ['*'] },
    { path: '/run/lab/nfsroot/srv/nfs', clients: ['192.168.77.0/24'] },
    { path: '/srv/nfs/vms', clients: ['10.0.0.5'] },
  ]);
  assert.deepEqual(parseShowmount('/a host1,10.0.0.0/8\n'), [{ path: '/a', clients: ['host1', '10.0.0.0/8'] }]);
  assert.match(formatNfsScan('nas', exports), /nas:\/srv\/nfs\/vms\s+10\.0\.0\.5/);
});

test('an export operation past its deadline keeps its volume busy until it has really finished', async () => {
  // Only the mount is replaced (a directory stands for the export): bounded() is the real code.
  class DirExport extends ExportMount {
    override async root(): Promise<string> { return tmpdir(); }
  }
  const ex = new DirExport(local, { poolId: 'p', server: 'nfs1', export: '/srv', options: [], timeoutSeconds: 1, mountRoot: tmpdir() });
  let finish!: () => void;
  const hung = new Promise<void>((r) => { finish = r; });
  const ran: string[] = [];
  await assert.rejects(ex.bounded('creating a volume', async () => { await hung; ran.push('first'); }, 50, 'volume a'),
    (e: StorageError) => e.kind === 'unavailable' && /did not finish within/.test(e.message));
  // The retry would copy into the same directory beside the first attempt: refused as busy.
  await assert.rejects(ex.bounded('creating a volume', async () => { ran.push('retry'); }, 1000, 'volume a'),
    (e: StorageError) => e.kind === 'busy' && /creating a volume of volume a timed out earlier and is still running/.test(e.message));
  // Other volumes, and reads without a key, go on.
  await ex.bounded('creating a volume', async () => { ran.push('other'); }, 1000, 'volume b');
  await ex.bounded('listing volumes', async () => { ran.push('list'); });
  finish();
  await hung;
  await new Promise((r) => setImmediate(r));
  await ex.bounded('creating a volume', async () => { ran.push('retry'); }, 1000, 'volume a');
  assert.deepEqual(ran, ['other', 'list', 'first', 'retry']);
});
