// A tiny HTTP server answering GET /healthz from an async check: 200 "ok", or 500 with why.
import { createServer, type Server } from 'node:http';

export async function serveHealth(address: string, check: () => Promise<void>): Promise<Server> {
  const m = /^(.*):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) > 65535) throw new Error(`--http-endpoint must be [HOST]:PORT, got "${address}"`);
  const server = createServer((req, res) => {
    if (req.url !== '/healthz') { res.writeHead(404); res.end(); return; }
    check().then(
      () => { res.writeHead(200); res.end('ok'); },
      (e: Error) => { res.writeHead(500); res.end(e.message); },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1]!.replace(/^\[|\]$/g, '') || undefined, () => resolve());
  });
  return server;
}
