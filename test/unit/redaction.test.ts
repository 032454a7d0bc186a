// Secrets never reach the logs: not through redactSecrets, not through the RPC wrapper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, logger, redactSecrets, setLogger } from '../../src/observe/log.js';
import { wrap } from '../../src/csi/rpc.js';

const SECRET = 'AQBvc2VjcmV0LWtleS1kby1ub3QtbG9n==';

function capture(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const prev = logger();
  const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  setLogger(createLogger({ level: 'trace', destination: dest as never }));
  return { lines, restore: () => setLogger(prev) };
}

test('redactSecrets replaces CSI secrets and key-like fields at any depth', () => {
  const out = redactSecrets({
    name: 'pvc-1',
    secrets: { userID: 'admin', userKey: SECRET },
    nested: { deeper: [{ password: SECRET, chapSecret: SECRET }] },
    keyring: SECRET,
    chap: { 'node.session.auth.username': 'u', 'node.session.auth.password': SECRET, 'node.session.auth.password_in': SECRET },
  });
  const text = JSON.stringify(out);
  assert.doesNotMatch(text, new RegExp(SECRET));
  assert.match(text, /"userID":"\[REDACTED\]"/, 'names are kept, values hidden');
  assert.match(text, /"name":"pvc-1"/);
});

test('the RPC wrapper logs requests and failures without the secret', async () => {
  const cap = capture();
  try {
    const impl = wrap('Controller', {
      async CreateVolume(req) { throw new Error(`backend said no for ${req.name}`); },
    });
    await new Promise<void>((resolve) => {
      impl.CreateVolume!({ request: { name: 'pvc-x', secrets: { userKey: SECRET } } } as never, (() => resolve()) as never);
    });
    const text = cap.lines.join('');
    assert.match(text, /pvc-x/, 'the request was logged');
    assert.match(text, /\[REDACTED\]/);
    assert.doesNotMatch(text, new RegExp(SECRET));
  } finally {
    cap.restore();
  }
});

test('pino redaction also covers secrets logged directly', () => {
  const cap = capture();
  try {
    logger().info({ secrets: { userKey: SECRET }, req: { secrets: { k: SECRET } } }, 'direct');
    assert.doesNotMatch(cap.lines.join(''), new RegExp(SECRET));
  } finally {
    cap.restore();
  }
});
