// Start a lab and hold it: prints one JSON line (the run's id, namespace, nodes) once it is
// up, then waits until killed. For poking at a lab by hand, and for the teardown tests,
// which kill this process in various ways and check what it leaves behind.
//
// Usage: node dist/test/lab/tools/hold-lab.js [--services lvm,nfs,...] [--nodes N] [--repl] [--throw]
//   --repl   read command lines on stdin, run each with sh -c in node1 ("nodeN: cmd" for
//            another node), print the output; end of input closes the lab
//   --throw  once the lab is up, wait for a line on stdin, then throw an uncaught error (the
//            exit handler must tear down)
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startLab, type ServiceName } from '../harness/index.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '' },
    nodes: { type: 'string', default: '1' },
    repl: { type: 'boolean', default: false },
    throw: { type: 'boolean', default: false },
  },
});
const services = values.services.split(',').filter(Boolean) as ServiceName[];
const count = Number(values.nodes);
const lab = await startLab({
  name: 'hold-lab',
  network: count > 1,
  nodes: Array.from({ length: count }, (_, i) => ({ name: `node${i + 1}`, services })),
});
console.log(
  JSON.stringify({
    runId: lab.run.runId,
    tag: lab.run.tag,
    netns: lab.run.netns,
    runDir: lab.run.runDir,
    nodes: lab.nodes.map((n) => ({ name: n.name, ip: n.ip, console: n.consoleLog, spool: n.runDir })),
  }),
);
if (values.throw) {
  await once(createInterface({ input: process.stdin }), 'line');
  throw new Error('hold-lab: thrown on purpose, with the lab up');
}
if (values.repl) {
  for await (const line of createInterface({ input: process.stdin })) {
    const m = /^(\S+):\s+(.*)$/.exec(line);
    const node = lab.node(m ? m[1]! : 'node1');
    const r = await node.exec(['sh', '-c', m ? m[2]! : line], { timeoutMs: 10 * 60_000 });
    process.stdout.write(`${r.stdout}${r.stderr}[${node.name}: exit ${r.code ?? r.signal}]\n`);
  }
  await lab.close();
} else {
  setInterval(() => {}, 1 << 30);
}
