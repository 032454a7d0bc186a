// cephx credentials: where they come from, how they are checked, and that the key only ever
// sits in a private 0600 file for the duration of one operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { inspect } from 'node:util';
import { makeCephx, resolveCephx, withKeyfile } from '../../src/backends/rbd/credentials.js';
import { DirSecrets, type SecretRef, type SecretSource } from '../../src/backends/secrets.js';
import { redactSecrets } from '../../src/observe/log.js';
import { KEY, rbdPool } from './rbd-helpers.js';

/** A SecretSource fake: the interface boundary, nothing behind it. */
class FakeSecrets implements SecretSource {
  readonly description = 'a fake';
  readonly asked: SecretRef[] = [];
  constructor(private readonly data: Record<string, Record<string, string>>) {}
  async get(ref: SecretRef) { this.asked.push(ref); return this.data[`${ref.namespace}/${ref.name}`]; }
}

test('CSI secrets come first (ceph-csi keys userID/userKey; "client." prefix dropped)', async () => {
  const source = new FakeSecrets({});
  const c = await resolveCephx(rbdPool({ secretRef: { name: 's', namespace: 'n' } }), { secrets: { userID: 'client.csi', userKey: KEY } }, source);
  assert.equal(c.user, 'csi');
  assert.equal(c.key, KEY);
  assert.equal(c.origin, 'CSI secrets');
  assert.deepEqual(source.asked, [], 'the Secret is not read when the call brings credentials');
});

test('without CSI secrets: the pool secretRef, userID defaulting to the pool user', async () => {
  const source = new FakeSecrets({ 'storage/ceph': { userKey: KEY } });
  const c = await resolveCephx(rbdPool({ user: 'kube', secretRef: { name: 'ceph', namespace: 'storage' } }), {}, source);
  assert.equal(c.user, 'kube');
  assert.equal(c.origin, 'Secret storage/ceph');
  assert.deepEqual(source.asked, [{ name: 'ceph', namespace: 'storage' }]);
});

test('missing or malformed credentials are refused with a reason (PERMISSION_DENIED class)', async () => {
  await assert.rejects(resolveCephx(rbdPool(), undefined, new FakeSecrets({})), { kind: 'denied', message: /no CSI secrets .* no secretRef/ });
  await assert.rejects(resolveCephx(rbdPool({ secretRef: { name: 'x', namespace: 'y' } }), {}, new FakeSecrets({})), { kind: 'precondition', message: /Secret y\/x does not exist/ });
  assert.throws(() => makeCephx('admin', 'not a key!', 'CSI secrets'), { kind: 'denied', message: /not a cephx key/ });
  assert.throws(() => makeCephx('admin', '', 'CSI secrets'), { kind: 'denied', message: /userKey" is missing/ });
  assert.throws(() => makeCephx('ad min', KEY, 'CSI secrets'), { kind: 'denied', message: /userID/ });
});

test('a Cephx object never shows its key: JSON, inspect, log redaction', () => {
  const c = makeCephx('admin', KEY, 'CSI secrets');
  assert.doesNotMatch(JSON.stringify(c), /AQAp/);
  assert.doesNotMatch(inspect(c, { showHidden: false }), /AQAp/);
  assert.doesNotMatch(JSON.stringify(redactSecrets({ request: { secrets: { userID: 'admin', userKey: KEY } } })), /AQAp/);
  assert.doesNotMatch(JSON.stringify(redactSecrets({ userKey: KEY })), /AQAp/);
});

test('withKeyfile: 0600 file in a 0700 directory, removed afterwards, also on failure', async () => {
  const c = makeCephx('admin', KEY, 'CSI secrets');
  let seen = '';
  await withKeyfile(c, async (file) => {
    seen = file;
    assert.equal(readFileSync(file, 'utf8'), KEY, 'only the key, no newline');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(file)).mode & 0o777, 0o700);
  });
  assert.ok(seen && !existsSync(seen) && !existsSync(dirname(seen)));
  await assert.rejects(withKeyfile(c, async (file) => { seen = file; throw new Error('boom'); }), /boom/);
  assert.ok(!existsSync(dirname(seen)));
});

test('DirSecrets reads <dir>/<namespace>/<name>/<key> like a mounted Secret volume', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-secrets-'));
  try {
    // A Secret volume: keys are links into ..data, beside dot entries.
    const base = join(dir, 'storage', 'ceph');
    await mkdir(join(base, '..2026_11_21'), { recursive: true });
    await writeFile(join(base, '..2026_11_21', 'userKey'), `${KEY}\n`);
    await writeFile(join(base, '..2026_11_21', 'userID'), 'kube');
    await symlink('..2026_11_21', join(base, '..data'));
    await symlink('..data/userKey', join(base, 'userKey'));
    await symlink('..data/userID', join(base, 'userID'));
    const s = new DirSecrets(dir);
    assert.deepEqual(await s.get({ namespace: 'storage', name: 'ceph' }), { userID: 'kube', userKey: KEY });
    assert.equal(await s.get({ namespace: 'storage', name: 'other' }), undefined);
    assert.equal(await s.get({ namespace: '..', name: 'etc' }), undefined, 'no path games');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
