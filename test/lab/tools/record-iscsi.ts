// Records what a real target answers to the controller's iSCSI session (backends/iscsiluns),
// for the unit tests' replay (test/unit/iscsi-luns.test.ts). Run inside a lab node with LIO:
//   node dist/test/lab/tools/record-iscsi.js --target IQN [--initiator IQN] [--wipe-lun N] > fixture.json
// It puts a relay between session and target on 127.0.0.1 and writes, per PDU the initiator
// sent, its opcode and the target's PDUs that followed (hex), then the inventory and, with
// --wipe-lun, the wipe of that LUN.
import { createServer, connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { inventory, wipe } from '../../../src/backends/iscsiluns/scsi.js';
import { IscsiSession, pduLength } from '../../../src/backends/iscsiluns/session.js';

const { values } = parseArgs({ options: { target: { type: 'string' }, initiator: { type: 'string', default: 'iqn.2026-12.io.poolcsi:controller' }, 'wipe-lun': { type: 'string' }, port: { type: 'string', default: '3260' } } });
if (!values.target) throw new Error('--target is required');

interface Exchange { initiator: number; target: string[] }
const exchanges: Exchange[] = [];

/** Splits a stream into PDUs (no digests, as the session negotiates). */
function framer(onPdu: (p: Buffer) => void): (c: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (c) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      const total = pduLength(buf);
      if (total === undefined || buf.length < total) return;
      onPdu(Buffer.from(buf.subarray(0, total)));
      buf = buf.subarray(total);
    }
  };
}

const relay = createServer((client: Socket) => {
  const target = connect({ host: '127.0.0.1', port: Number(values.port) });
  client.on('data', framer((p) => { exchanges.push({ initiator: p[0]! & 0x3f, target: [] }); target.write(p); }));
  target.on('data', framer((p) => { exchanges.at(-1)?.target.push(p.toString('hex')); client.write(p); }));
  client.on('close', () => target.end());
  target.on('close', () => client.end());
});
await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
const port = (relay.address() as { port: number }).port;

const s = await IscsiSession.open({ host: '127.0.0.1', port, initiator: values.initiator, target: values.target, timeoutMs: 10_000 });
const luns = await inventory(s);
let wiped: number | undefined;
if (values['wipe-lun'] !== undefined) {
  const l = luns.find((x) => x.lun === Number(values['wipe-lun']));
  if (!l) throw new Error(`no LUN ${values['wipe-lun']}`);
  await wipe(s, l.lun, l.sizeBytes, l.blockBytes);
  wiped = l.lun;
}
await s.close();
relay.close();
process.stdout.write(`${JSON.stringify({ recorded: new Date().toISOString(), target: values.target, initiator: values.initiator, inventory: luns, wiped, exchanges }, null, 1)}\n`);
