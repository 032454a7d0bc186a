// Issue 10 item 11: one request must not cost a megabyte of error message, nor stall the
// channel it came on. A real grpc-js client on one channel against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';
import { MAX_MESSAGE, toStatus, CsiError } from '../../src/csi/errors.js';
import { resolveParams } from '../../src/csi/params.js';
import { parsePools } from '../../src/pools/validate.js';
import { MOUNT_CAP, startPoolcsi, type Harness } from './helpers.js';

let h: Harness;
let channel: grpc.Channel;
let identity: grpc.Client;
let controller: grpc.Client;
before(async () => {
  h = await startPoolcsi();
  const csi = loadCsi();
  // Both clients on ONE channel: what a CO does, and what stalled.
  channel = new grpc.Channel(`unix://${h.socket}`, grpc.credentials.createInsecure(), {});
  identity = new csi.Identity(`unix://${h.socket}`, grpc.credentials.createInsecure(), { channelOverride: channel });
  controller = new csi.Controller(`unix://${h.socket}`, grpc.credentials.createInsecure(), { channelOverride: channel });
});
after(async () => { identity.close(); controller.close(); channel.close(); await h.stop(); });

function call(client: grpc.Client, method: string, req: object, timeoutMs: number): Promise<any> {
  return new Promise((resolve, reject) => {
    (client as any)[method](req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
  });
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try { await p; } catch (e) { return e as grpc.ServiceError; }
  throw new Error('the call succeeded');
}

const manyParams = (n: number) => {
  const p: Record<string, string> = { pool: 'local' };
  for (let i = 0; i < n; i++) p[`unknown-parameter-number-${i}`] = 'x';
  return p;
};

test('20,000 parameters: a short INVALID_ARGUMENT, and Probe on the same channel still answers at once', async () => {
  const e = await failure(call(controller, 'CreateVolume', { name: 'pvc-many', volume_capabilities: [MOUNT_CAP], parameters: manyParams(20_000) }, 10_000));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${grpc.status[e.code]}: ${e.details?.slice(0, 200)}`);
  assert.ok(e.details.length <= MAX_MESSAGE + 64, `message is ${e.details.length} characters`);
  assert.match(e.details, /parameters: 20001 entries; at most 128/);
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const r = await call(identity, 'Probe', {}, 2000);
    assert.equal(r.ready.value, true);
    assert.ok(Date.now() - t0 < 2000);
  }
});

test('a message over the size bound is RESOURCE_EXHAUSTED from grpc-js, and the channel stays usable', async () => {
  const big = { pool: 'local', blob: 'x'.repeat(2 * 1024 * 1024) };
  const e = await failure(call(controller, 'CreateVolume', { name: 'pvc-big', volume_capabilities: [MOUNT_CAP], parameters: big }, 10_000));
  assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED, e.details);
  assert.equal((await call(identity, 'Probe', {}, 2000)).ready.value, true);
});

test('bounds on secrets, capabilities, keys and values name the field', async () => {
  const secrets: Record<string, string> = {};
  for (let i = 0; i < 40; i++) secrets[`k${i}`] = 'v';
  const cases: Array<[object, RegExp]> = [
    [{ secrets }, /secrets: 40 entries; at most 32/],
    [{ volume_capabilities: Array.from({ length: 17 }, () => MOUNT_CAP) }, /volume_capabilities: 17 entries; at most 16/],
    [{ parameters: { pool: 'local', ['k'.repeat(400)]: 'v' } }, /parameters: key "k{64}"… \(400 characters\) is longer than 320/],
    [{ parameters: { pool: 'local', fsType: 'v'.repeat(20_000) } }, /parameters\["fsType"\]: value is longer than 16384/],
    [{ name: 'n'.repeat(10_000) }, /name: 10000 characters; at most 8192/],
  ];
  for (const [over, re] of cases) {
    const e = await failure(call(controller, 'CreateVolume', { name: 'pvc-b', volume_capabilities: [MOUNT_CAP], parameters: { pool: 'local' }, ...over }, 5000));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(over).slice(0, 80)}: ${e.details}`);
    assert.match(e.details, re);
  }
});

test('unknown parameters: the first five by name, then the count', () => {
  const pool = parsePools('pools:\n  - {id: local, type: dir, path: /srv/x}\n').pools[0]!;
  const raw: Record<string, string> = { pool: 'local' };
  for (let i = 0; i < 100; i++) raw[`bad${i}`] = 'x';
  assert.throws(() => resolveParams(pool, raw), (e: Error) => {
    assert.match(e.message, /^unknown parameter\(s\) "bad0", "bad1", "bad2", "bad3", "bad4" and 95 more \(100 in all\) for pool "local"/);
    return true;
  });
});

test('every status message is bounded, whatever threw it', () => {
  const s = toStatus(new Error('x'.repeat(100_000)));
  assert.ok(s.message.length < MAX_MESSAGE + 64);
  assert.match(s.message, /more characters\)$/);
  assert.equal(toStatus(new CsiError(grpc.status.NOT_FOUND, 'short')).message, 'short');
});
