// Go gRPC clients reach the driver's unix socket directly, with no proxy: both today's
// grpc-go (":authority: localhost") and the legacy form that sends the socket path as
// :authority, which Node's HTTP/2 layer alone rejects with PROTOCOL_ERROR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startPoolcsi, type Harness } from '../unit/helpers.js';

const GOCLIENT_DIR = new URL('../../../test/goclient/', import.meta.url).pathname;
let h: Harness;
let bin: string;

before(async () => {
  h = await startPoolcsi();
  bin = join(await mkdtemp(join(tmpdir(), 'goclient-')), 'goclient');
  await execa('go', ['build', '-o', bin, '.'], { cwd: GOCLIENT_DIR, env: { GOFLAGS: '-mod=mod' }, timeout: 300_000 });
});
after(async () => { await h.stop(); });

for (const mode of ['unix', 'legacy']) {
  test(`a grpc-go client dialing the ${mode} way gets GetPluginInfo`, async () => {
    const r = await execa(bin, [mode, h.socket], { reject: false, timeout: 30_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^poolcsi\.io \d+\.\d+\.\d+/);
  });
}
