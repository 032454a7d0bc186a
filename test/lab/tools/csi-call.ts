// One CSI call from the command line, for lab tests running inside a node:
//   node csi-call.js SOCKET Service.Method '{"json": "request"}'
//   node csi-call.js SOCKET Service.Method - < request.json    (requests with secrets: stdin, not argv)
// Prints {"response": ...} and exits 0, or {"error": {"code", "details"}} and exits 1.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../../src/csi/proto.js';

const [socket, method, json] = process.argv.slice(2);
if (!socket || !method || !/^(Identity|Controller|Node)\.[A-Za-z]+$/.test(method)) {
  process.stderr.write('usage: csi-call SOCKET Service.Method JSON\n');
  process.exit(2);
}
const [service, rpc] = method.split('.') as ['Identity' | 'Controller' | 'Node', string];
const client = new (loadCsi()[service])(`unix://${socket}`, grpc.credentials.createInsecure());
const fn = (client as unknown as Record<string, Function>)[rpc];
if (!fn) { process.stderr.write(`no method ${method}\n`); process.exit(2); }
const text = json === '-' ? readFileSync(0, 'utf8') : json ?? '{}';
fn.call(client, JSON.parse(text), { deadline: Date.now() + 110_000 }, (err: grpc.ServiceError | null, res: unknown) => {
  if (err) {
    process.stdout.write(`${JSON.stringify({ error: { code: err.code, details: err.details } })}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`${JSON.stringify({ response: res })}\n`);
  }
  client.close();
});
