// Pools from the ConfigMap through the real @kubernetes/client-node informer, against a small
// local stand-in for the API server's list/watch/events endpoints. An invalid update is refused
// (Event recorded, last good pools kept); a later valid one is applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PoolRegistry } from '../../src/pools/registry.js';
import { watchConfigMap } from '../../src/pools/source.js';
import { createLogger } from '../../src/observe/log.js';
import { waitFor } from '../../src/exec/wait.js';

const cm = (rv: string, pools: string) => ({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name: 'poolcsi-pools', namespace: 'storage', resourceVersion: rv, uid: 'u-1' },
  data: { 'pools.yaml': pools },
});

test('the ConfigMap informer applies valid versions and refuses invalid ones', { timeout: 30_000 }, async () => {
  const events: unknown[] = [];
  let watcher: ServerResponse | undefined;
  const api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/api/v1/namespaces/storage/events') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => { events.push(JSON.parse(body)); res.writeHead(201, { 'content-type': 'application/json' }); res.end(body); });
      return;
    }
    if (url.pathname !== '/api/v1/namespaces/storage/configmaps') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') === 'true') { watcher = res; res.flushHeaders(); return; }
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: '1' },
      items: [cm('1', 'pools:\n  - {id: a, type: dir, path: /srv/a}\n'), { ...cm('1', 'x'), metadata: { name: 'other', namespace: 'storage', resourceVersion: '1' } }] }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  const port = (api.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), 'kube-'));
  await writeFile(join(dir, 'config'), `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}\nusers:\n- name: t\n  user: {token: t}\ncontexts:\n- name: t\n  context: {cluster: t, user: t, namespace: storage}\ncurrent-context: t\n`);
  const prev = process.env.KUBECONFIG;
  process.env.KUBECONFIG = join(dir, 'config');
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }) as never });
  const registry = new PoolRegistry();
  const { stop } = await watchConfigMap(registry, 'storage', 'poolcsi-pools', log);
  try {
    await waitFor(() => registry.loaded, { timeoutMs: 10_000, what: 'initial pools' });
    assert.deepEqual(registry.list().map((p) => p.id), ['a']);
    await waitFor(() => watcher, { timeoutMs: 10_000, what: 'watch request' });

    watcher!.write(`${JSON.stringify({ type: 'MODIFIED', object: cm('2', 'pools:\n  - {id: B, type: dir, path: rel}\n') })}\n`);
    await waitFor(() => events.length > 0, { timeoutMs: 10_000, what: 'an Event for the invalid pools' });
    assert.deepEqual(registry.list().map((p) => p.id), ['a'], 'the last good pools stay in force');
    assert.match(JSON.stringify(events[0]), /InvalidPools/);
    assert.match(logs.join(''), /pool \\"B\\" field id/);

    watcher!.write(`${JSON.stringify({ type: 'MODIFIED', object: cm('3', 'pools:\n  - {id: b, type: dir, path: /srv/b}\n') })}\n`);
    await waitFor(() => registry.get('b') !== undefined, { timeoutMs: 10_000, what: 'the valid update' });
    assert.deepEqual(registry.list().map((p) => p.id), ['b']);
    assert.equal(registry.get('a')?.retired, true, 'the removed pool stays usable for its volumes');
  } finally {
    stop();
    watcher?.end();
    api.closeAllConnections();
    api.close();
    if (prev === undefined) delete process.env.KUBECONFIG; else process.env.KUBECONFIG = prev;
  }
});
