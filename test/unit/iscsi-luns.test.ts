// iscsi-luns: the controller's own iSCSI session replayed against what a real LIO target
// answered (test/fixtures/iscsi-luns, recorded by test/lab/tools/record-iscsi.ts in a lab node),
// the LUN choice, the claims as Lease objects, and the pool schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { candidates, firstClaim, freeLuns } from '../../src/backends/iscsiluns/backend.js';
import { claimName, fromLease, poolLabel, toLease, type Claim } from '../../src/backends/iscsiluns/claims.js';
import { iscsiLunsNodeContext } from '../../src/backends/iscsiluns/context.js';
import { inventory, wipe, wwidOf, type LunInfo } from '../../src/backends/iscsiluns/scsi.js';
import { chapResponse, IscsiSession, IscsiSessionError, lunField, lunOf, pduLength, senseOf } from '../../src/backends/iscsiluns/session.js';
import { PoolSchema, type IscsiLunsPool } from '../../src/pools/schema.js';
import { fixture } from '../helpers/fixtures.js';

interface Recording { target: string; initiator: string; inventory: LunInfo[]; wiped?: number; exchanges: Array<{ initiator: number; target: string[] }> }

/** A TCP server that answers the n-th PDU it receives with the target PDUs recorded after the n-th. */
async function replay(rec: Recording, opts: { cut?: number } = {}): Promise<{ port: number; seen: number[]; close: () => void }> {
  const seen: number[] = [];
  const server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const total = pduLength(buf);
        if (total === undefined || buf.length < total) return;
        const op = buf[0]! & 0x3f;
        buf = buf.subarray(total);
        const n = seen.push(op) - 1;
        if (opts.cut !== undefined && n >= opts.cut) { sock.destroy(); return; }
        const ex = rec.exchanges[n];
        if (!ex) { sock.destroy(); return; }
        for (const h of ex.target) sock.write(Buffer.from(h, 'hex'));
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, seen, close: () => server.close() };
}

const recording = (): Recording => JSON.parse(fixture('iscsi-luns/lio-inventory.json')) as Recording;

test('session: login, inventory and a WRITE SAME wipe replayed from a real LIO target (3 LUNs of 16, 32, 48 MiB)', async () => {
  const rec = recording();
  const r = await replay(rec);
  try {
    const s = await IscsiSession.open({ host: '127.0.0.1', port: r.port, initiator: rec.initiator, target: rec.target, timeoutMs: 2000 });
    const luns = await inventory(s);
    assert.deepEqual(luns.map((l) => [l.lun, l.sizeBytes, l.blockBytes, l.vendor]), [[0, 16 << 20, 512, 'LIO-ORG'], [1, 32 << 20, 512, 'LIO-ORG'], [2, 48 << 20, 512, 'LIO-ORG']]);
    for (const l of luns) assert.match(l.wwid, /^naa\.6001405[0-9a-f]{25}$/);
    assert.equal(new Set(luns.map((l) => l.wwid)).size, 3);
    assert.equal(rec.wiped, 0);
    await wipe(s, 0, luns[0]!.sizeBytes, luns[0]!.blockBytes);
    await s.close();
    // Login (security, then operational), then SCSI commands (0x01) only, then the logout (0x06).
    assert.deepEqual(r.seen.slice(0, 2), [0x03, 0x03]);
    assert.equal(r.seen.at(-1), 0x06);
    assert.ok(r.seen.slice(2, -1).every((op) => op === 0x01), `SCSI commands only: ${r.seen.join(',')}`);
  } finally {
    r.close();
  }
});

test('session: a target that goes silent or drops the connection ends the call with "unreachable", within the deadline', async () => {
  const rec = recording();
  for (const cut of [0, 3]) {
    const r = await replay(rec, { cut });
    try {
      const started = Date.now();
      const run = async () => {
        const s = await IscsiSession.open({ host: '127.0.0.1', port: r.port, initiator: rec.initiator, target: rec.target, timeoutMs: 500 });
        try { await inventory(s); } finally { await s.close(); }
      };
      await assert.rejects(run(), (e: unknown) => e instanceof IscsiSessionError && e.reason === 'unreachable');
      assert.ok(Date.now() - started < 3000);
    } finally {
      r.close();
    }
  }
  await assert.rejects(IscsiSession.open({ host: '127.0.0.1', port: 1, initiator: rec.initiator, target: rec.target, timeoutMs: 500 }), (e: unknown) => e instanceof IscsiSessionError && e.reason === 'unreachable');
});

test('SCSI fields: LUN addressing both ways, sense formats, the identification page as Linux names it', () => {
  for (const n of [0, 1, 255, 256, 4095, 16383]) assert.equal(lunOf(lunField(n)), n);
  assert.throws(() => lunField(16384));
  const fixed = Buffer.alloc(18); fixed[0] = 0x70; fixed[2] = 0x05; fixed[12] = 0x24; fixed[13] = 0x00;
  assert.deepEqual(senseOf(fixed), [5, 0x24, 0]);
  assert.deepEqual(senseOf(Buffer.from([0x72, 0x06, 0x29, 0x01])), [6, 0x29, 1]);
  // A page with a target-port designator (association 1) before the LU's NAA: the LU's is taken.
  const naa = Buffer.from('6001405d4f22b20da2147d8814493ee6', 'hex');
  const port = Buffer.from([0x01, 0x14, 0x00, 0x04, 0, 0, 0, 1]);
  const lu = Buffer.concat([Buffer.from([0x01, 0x03, 0x00, naa.length]), naa]);
  const body = Buffer.concat([port, lu]);
  const page = Buffer.concat([Buffer.from([0, 0x83, 0, body.length]), body]);
  assert.equal(wwidOf(page), 'naa.6001405d4f22b20da2147d8814493ee6');
  // RFC 1994: MD5 over identifier, secret, challenge.
  assert.equal(chapResponse(1, 's', Buffer.from([2])).length, 16);
  assert.notDeepEqual(chapResponse(1, 's', Buffer.from([2])), chapResponse(2, 's', Buffer.from([2])));
});

const lun = (n: number, mib: number): LunInfo => ({ lun: n, sizeBytes: mib << 20, blockBytes: 512, wwid: `naa.60014050000000000000000000000${String(n).padStart(3, '0')}`, vendor: 'LIO-ORG', model: `l${n}` });

test('LUN choice: the smallest free LUN that holds the request, within its limit; claimed ones never', () => {
  const T = 'iqn.2003-01.org.example:luns';
  const luns = [lun(0, 64), lun(1, 16), lun(2, 32), lun(3, 16)];
  assert.deepEqual(candidates(freeLuns(luns, [], T), 10 << 20, 0).map((l) => l.lun), [1, 3, 2, 0]);
  assert.deepEqual(candidates(freeLuns(luns, [{ name: claimName(T, luns[1]!.wwid) }], T), 10 << 20, 0).map((l) => l.lun), [3, 2, 0]);
  assert.deepEqual(candidates(freeLuns(luns, [], T), 20 << 20, 40 << 20).map((l) => l.lun), [2]);
  assert.deepEqual(candidates(freeLuns(luns, [], T), 100 << 20, 0), []);
  // A claim on the same LUN number of another target takes nothing here.
  assert.equal(freeLuns(luns, [{ name: claimName(`${T}2`, luns[1]!.wwid) }], T).length, 4);
  // The claim is named by target and SCSI id: the same LUN number on another target is another claim.
  assert.notEqual(claimName(T, luns[0]!.wwid), claimName(`${T}2`, luns[0]!.wwid));
  assert.match(claimName(T, luns[0]!.wwid), /^poolcsi-lun-[0-9a-f]{24}$/);
});

const claim = (over: Partial<Claim> = {}): Claim => ({
  name: 'poolcsi-lun-0123456789abcdef01234567', pool: 'luns', target: 'iqn.2003-01.org.example:luns', wwid: 'naa.6001405d4f22b20da2147d8814493ee6',
  lun: 3, sizeBytes: 16 << 20, volume: 'pvc-1', requestName: 'pvc-1', mode: 'block', params: { a: 'b' }, createdAt: '2026-12-04T00:00:00.000Z',
  published: { n1: { readonly: false } }, releasing: false, ...over,
});

test('claims: a Lease per LUN round-trips; a malformed one is not a claim; the first stored of two claims for one volume stands', () => {
  const c = claim({ resourceVersion: '42', pvc: { namespace: 'ns', name: 'p' } });
  const lease = toLease(c);
  assert.equal(lease.spec?.holderIdentity, 'pvc-1');
  assert.equal(lease.metadata?.labels?.['poolcsi.io/claim'], 'lun');
  assert.deepEqual(fromLease(lease), c);
  assert.equal(fromLease({ metadata: { name: 'x', annotations: { 'poolcsi.io/claim': '{' } } }), undefined);
  assert.equal(fromLease({ metadata: { name: 'x', annotations: { 'poolcsi.io/claim': JSON.stringify({ pool: 'p' }) } } }), undefined);
  assert.equal(firstClaim([claim({ name: 'b', resourceVersion: '900' }), claim({ name: 'a', resourceVersion: '1000' })])!.name, 'b');
  assert.equal(firstClaim([]), undefined);
  assert.equal(poolLabel('luns'), 'luns');
});

test('schema and node context: portals, a lowercase IQN, saferemove on by default; the context names the claimed SCSI id', () => {
  const pool = PoolSchema.parse({ id: 'luns', type: 'iscsi-luns', portals: ['10.0.0.40', '10.0.1.40:3261'], target: 'iqn.2005-10.org.example:luns' }) as IscsiLunsPool;
  assert.equal(pool.saferemove, 'zero');
  assert.equal(pool.initiator, 'iqn.2026-12.io.poolcsi:controller');
  assert.equal(pool.timeoutSeconds, 10);
  for (const bad of [{ target: 'IQN.2005-10.org.example:luns' }, { portals: [] }, { portals: ['a', 'a:3260'] }, { backing: {} }]) {
    assert.equal(PoolSchema.safeParse({ id: 'luns', type: 'iscsi-luns', portals: ['10.0.0.40'], target: 'iqn.2005-10.org.example:luns', ...bad }).success, false, JSON.stringify(bad));
  }
  assert.deepEqual(iscsiLunsNodeContext(pool, { name: 'pvc-1', location: '7 naa.6001405d4f22b20da2147d8814493ee6' }), {
    transport: 'iscsi', descriptor: { target: 'iqn.2005-10.org.example:luns', lun: '7', portals: '10.0.0.40,10.0.1.40:3261', wwid: 'naa.6001405d4f22b20da2147d8814493ee6' },
  });
  assert.throws(() => iscsiLunsNodeContext(pool, { name: 'pvc-1' }), /no claimed LUN/);
});
