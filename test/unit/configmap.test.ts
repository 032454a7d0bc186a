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
import { MEMORY_ANNOTATION, watchConfigMap } from '../../src/pools/source.js';
import { createLogger } from '../../src/observe/log.js';
import { waitFor } from '../../src/exec/wait.js';

const cm = (rv: string, pools: string) => ({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name: 'poolcsi-pools', namespace: 'storage', resourceVersion: rv, uid: 'u-1' },
  data: { 'pools.yaml': pools },
});

test('the ConfigMap informer applies valid versions and refuses invalid ones', { timeout: 90_000 }, async () => {
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
    await waitFor(() => registry.loaded, { timeoutMs: 20_000, what: 'initial pools' });
    assert.deepEqual(registry.list().map((p) => p.id), ['a']);
    await waitFor(() => watcher, { timeoutMs: 20_000, what: 'watch request' });

    watcher!.write(`${JSON.stringify({ type: 'MODIFIED', object: cm('2', 'pools:\n  - {id: B, type: dir, path: rel}\n') })}\n`);
    await waitFor(() => events.length > 0, { timeoutMs: 20_000, what: 'an Event for the invalid pools' });
    assert.deepEqual(registry.list().map((p) => p.id), ['a'], 'the last good pools stay in force');
    assert.match(JSON.stringify(events[0]), /InvalidPools/);
    assert.match(logs.join(''), /pool \\"B\\" field id/);

    watcher!.write(`${JSON.stringify({ type: 'MODIFIED', object: cm('3', 'pools:\n  - {id: b, type: dir, path: /srv/b}\n') })}\n`);
    await waitFor(() => registry.get('b') !== undefined, { timeoutMs: 20_000, what: 'the valid update' });
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

/** A stand-in holding one ConfigMap: list/watch, GET and PUT (with resourceVersion conflicts). */
async function configMapApi(initial: { pools: string; annotations?: Record<string, string> }) {
  let rv = 1;
  let obj: any = { ...cm(String(rv), initial.pools), metadata: { ...cm('1', '').metadata, annotations: initial.annotations ?? {} } };
  const puts: any[] = [];
  let conflictOnce = true;
  const watchers: ServerResponse[] = [];
  const api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method === 'POST' && url.pathname === '/api/v1/namespaces/storage/events') { res.writeHead(201, { 'content-type': 'application/json' }); res.end(body); return; }
      if (url.pathname === '/api/v1/namespaces/storage/configmaps') {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (url.searchParams.get('watch') === 'true') { watchers.push(res); res.flushHeaders(); return; }
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: String(rv) }, items: [obj] }));
        return;
      }
      if (url.pathname !== '/api/v1/namespaces/storage/configmaps/poolcsi-pools') { res.writeHead(404); res.end(); return; }
      if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); return; }
      if (req.method === 'PUT') {
        const next = JSON.parse(body);
        puts.push(next);
        // The first write meets a concurrent edit: 409, and the writer must read again.
        if (conflictOnce || next.metadata.resourceVersion !== obj.metadata.resourceVersion) {
          conflictOnce = false;
          rv++;
          obj = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
          res.writeHead(409, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409 }));
          return;
        }
        rv++;
        obj = { ...next, metadata: { ...next.metadata, resourceVersion: String(rv) } };
        for (const w of watchers) w.write(`${JSON.stringify({ type: 'MODIFIED', object: obj })}\n`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
        return;
      }
      res.writeHead(405); res.end();
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  const port = (api.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), 'kube-'));
  await writeFile(join(dir, 'config'), `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}\nusers:\n- name: t\n  user: {token: t}\ncontexts:\n- name: t\n  context: {cluster: t, user: t, namespace: storage}\ncurrent-context: t\n`);
  const prev = process.env.KUBECONFIG;
  process.env.KUBECONFIG = join(dir, 'config');
  return {
    get obj() { return obj; },
    puts,
    edit(pools: string) {
      rv++;
      obj = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) }, data: { 'pools.yaml': pools } };
      for (const w of watchers) w.write(`${JSON.stringify({ type: 'MODIFIED', object: obj })}\n`);
    },
    close() {
      for (const w of watchers) w.end();
      api.closeAllConnections();
      api.close();
      if (prev === undefined) delete process.env.KUBECONFIG; else process.env.KUBECONFIG = prev;
    },
  };
}

test('the controller keeps the pool memory in an annotation of the pools ConfigMap and restores it after a restart', { timeout: 90_000 }, async () => {
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }) as never });
  const api = await configMapApi({ pools: 'pools:\n  - {id: a, type: dir, path: /srv/a}\n  - {id: b, type: dir, path: /srv/b}\n' });
  try {
    const registry = new PoolRegistry();
    const { stop } = await watchConfigMap(registry, 'storage', 'poolcsi-pools', log, { remember: true });
    try {
      await waitFor(() => api.obj.metadata.annotations?.[MEMORY_ANNOTATION], { timeoutMs: 20_000, what: 'the memory annotation' });
      assert.ok(api.puts.length >= 2, 'the conflicting write was read again and retried');
      assert.equal(api.obj.data['pools.yaml'].includes('id: a'), true, 'the data is untouched');
      api.edit('pools:\n  - {id: b, type: dir, path: /srv/b}\n');
      await waitFor(() => (registry.get('a')?.retired ? true : undefined), { timeoutMs: 20_000, what: 'a retired' });
      await waitFor(() => (JSON.parse(api.obj.metadata.annotations[MEMORY_ANNOTATION]).retired.length === 1 ? true : undefined), { timeoutMs: 20_000, what: 'a remembered' });
    } finally {
      stop();
    }

    // A restarted controller: "a" is served as retired although the ConfigMap no longer lists it.
    const after = new PoolRegistry();
    const second = await watchConfigMap(after, 'storage', 'poolcsi-pools', log, { remember: true });
    try {
      await waitFor(() => after.loaded, { timeoutMs: 20_000, what: 'pools after the restart' });
      assert.deepEqual(after.get('a'), { pool: { id: 'a', type: 'dir', path: '/srv/a', disable: false, quota: 'auto' }, retired: true });
      assert.deepEqual(after.list().map((p) => p.id), ['b']);
      // An identity change is refused against the remembered definition.
      api.edit('pools:\n  - {id: a, type: dir, path: /srv/other}\n  - {id: b, type: dir, path: /srv/b}\n');
      await waitFor(() => (logs.some((l) => l.includes('field path: cannot change')) ? true : undefined), { timeoutMs: 20_000, what: 'the refusal' });
      assert.deepEqual(after.list().map((p) => p.id), ['b']);
      assert.equal(after.get('a')?.retired, true);
    } finally {
      second.stop();
    }

    // A node plugin (no remember) neither writes nor restores the memory.
    api.edit('pools:\n  - {id: b, type: dir, path: /srv/b}\n');
    const puts = api.puts.length;
    const node = new PoolRegistry();
    const third = await watchConfigMap(node, 'storage', 'poolcsi-pools', log);
    try {
      await waitFor(() => node.loaded, { timeoutMs: 20_000, what: 'node pools' });
      assert.equal(node.get('a'), undefined);
      assert.equal(api.puts.length, puts);
    } finally {
      third.stop();
    }
  } finally {
    api.close();
  }
});

test('an unreadable memory annotation holds the pools back (an Event says why)', { timeout: 90_000 }, async () => {
  const api = await configMapApi({ pools: 'pools:\n  - {id: a, type: dir, path: /srv/a}\n', annotations: { [MEMORY_ANNOTATION]: '{"version":1,"active":"x"}' } });
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }) as never });
  try {
    const registry = new PoolRegistry();
    const { stop } = await watchConfigMap(registry, 'storage', 'poolcsi-pools', log, { remember: true });
    try {
      await waitFor(() => (logs.join('').includes('pool memory unreadable') ? true : undefined), { timeoutMs: 20_000, what: 'the refusal' });
      assert.equal(registry.loaded, false);
    } finally {
      stop();
    }
  } finally {
    api.close();
  }
});
