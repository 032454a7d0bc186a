// The :authority fix, at the byte level and end to end with Node's own HTTP/2 client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { AuthorityRewriter, fixAuthority } from '../../src/csi/authority.js';
import { encodeLiterals, HpackDecoder } from '../../src/csi/hpack.js';
import { startPoolcsi, type Harness } from './helpers.js';

let h: Harness;
before(async () => { h = await startPoolcsi(); });
after(async () => { await h.stop(); });

function getPluginInfo(socket: string, authority: string | undefined): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    s.on('error', reject);
    const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': '/csi.v1.Identity/GetPluginInfo', 'content-type': 'application/grpc', te: 'trailers' };
    if (authority !== undefined) headers[':authority'] = authority;
    const req = s.request(headers);
    let status = '';
    let body = Buffer.alloc(0);
    req.on('response', (hd) => { status = String(hd['grpc-status'] ?? status); });
    req.on('trailers', (t) => { status = String(t['grpc-status']); });
    req.on('data', (d: Buffer) => { body = Buffer.concat([body, d]); });
    req.on('error', reject);
    req.on('close', () => { s.close(); resolve({ status, body: body.toString('latin1') }); });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

for (const authority of [undefined, 'localhost', '%2Fcsi%2Fcsi.sock', '/var/lib/kubelet/plugins/poolcsi.io/csi.sock']) {
  test(`:authority ${JSON.stringify(authority)} is served`, async () => {
    const r = await getPluginInfo(h.socket, authority);
    assert.equal(r.status, '0');
    assert.match(r.body, /poolcsi\.io/);
  });
}

test('several requests on one connection keep the HPACK state in step', async () => {
  const s = http2.connect('http://localhost', { createConnection: () => net.connect(h.socket) });
  try {
    for (let i = 0; i < 5; i++) {
      const status = await new Promise<string>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/csi.v1.Identity/Probe', ':authority': '/csi/csi.sock', 'content-type': 'application/grpc', te: 'trailers', 'x-n': String(i) });
        let st = '';
        req.on('trailers', (t) => { st = String(t['grpc-status']); });
        req.on('data', () => undefined);
        req.on('error', reject);
        req.on('close', () => resolve(st));
        req.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      assert.equal(status, '0', `request ${i}`);
    }
  } finally {
    s.close();
  }
});

test('fixAuthority keeps valid authorities and replaces paths', () => {
  assert.equal(fixAuthority('localhost'), 'localhost');
  assert.equal(fixAuthority('10.0.0.1:9000'), '10.0.0.1:9000');
  assert.equal(fixAuthority('/csi/csi.sock'), 'localhost');
});

test('the rewriter passes other frames through byte for byte and re-frames header blocks', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const block = encodeLiterals([{ name: ':authority', value: '/x.sock', sensitive: false }, { name: 'te', value: 'trailers', sensitive: false }]);
  const headers = Buffer.concat([Buffer.from([0, 0, block.length, 1, 0x5, 0, 0, 0, 1]), block]);
  const r = new AuthorityRewriter();
  // Fed one byte at a time to exercise buffering.
  const input = Buffer.concat([preface, settings, headers]);
  const out = Buffer.concat([...input].map((b) => r.push(Buffer.from([b]))));
  assert.deepEqual(out.subarray(0, preface.length + settings.length), Buffer.concat([preface, settings]));
  const hf = out.subarray(preface.length + settings.length);
  assert.equal(hf[3], 1);
  assert.equal(hf[4], 0x5, 'END_STREAM and END_HEADERS kept');
  const fields = new HpackDecoder().decode(hf.subarray(9));
  assert.deepEqual(fields.map((f) => [f.name, f.value]), [[':authority', 'localhost'], ['te', 'trailers']]);
  assert.equal(r.rewritten, 1);
});
