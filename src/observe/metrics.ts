// Prometheus metrics: per-RPC count, latency and code; pool reload results; an HTTP endpoint.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'poolcsi_process_' });

export const rpcTotal = new Counter({
  name: 'poolcsi_rpc_total',
  help: 'CSI calls served, by method and gRPC code',
  labelNames: ['method', 'code'] as const,
  registers: [registry],
});

export const rpcSeconds = new Histogram({
  name: 'poolcsi_rpc_duration_seconds',
  help: 'CSI call latency, by method',
  labelNames: ['method'] as const,
  buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const poolReloads = new Counter({
  name: 'poolcsi_pools_reload_total',
  help: 'Pool definition loads, by result (ok, invalid, or unsaved: the pool memory could not be written)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const poolsActive = new Gauge({
  name: 'poolcsi_pools_active',
  help: 'Pools in force',
  registers: [registry],
});

export const poolsRetired = new Gauge({
  name: 'poolcsi_pools_retired',
  help: 'Pools removed from the list that still serve their existing volumes (forgotten once empty)',
  registers: [registry],
});

export const execTotal = new Counter({
  name: 'poolcsi_exec_total',
  help: 'Programs started, by program name and where (local, or ssh: on a storage host); the process cost of the driver',
  labelNames: ['program', 'where'] as const,
  registers: [registry],
});

/** Serves /metrics (and /healthz) on host:port. */
export async function serveMetrics(address: string, healthy: () => boolean): Promise<Server> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`--metrics-address must be HOST:PORT, got "${address}"`);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      }, (e: Error) => { res.writeHead(500); res.end(e.message); });
    } else if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503);
      res.end(ok ? 'ok' : 'not ready');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', () => resolve());
  });
  return server;
}
