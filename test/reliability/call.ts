// One CSI call with a CO-like deadline, for tests that drive a driver inside a lab node:
//   node call.js SOCKET Service.Method DEADLINE_MS < request.json
// Prints the Outcome ({ok, code, details, response, ms}) as JSON; exit 0 either way.
import { readFileSync } from 'node:fs';
import { CsiClient } from './core/csi.js';

const [socket, method, deadline] = process.argv.slice(2);
if (!socket || !method) { process.stderr.write('usage: call SOCKET Service.Method DEADLINE_MS < request.json\n'); process.exit(2); }
const c = new CsiClient(socket);
const r = await c.call(method, JSON.parse(readFileSync(0, 'utf8') || '{}'), Number(deadline ?? 30_000));
c.close();
process.stdout.write(`${JSON.stringify(r)}\n`);
