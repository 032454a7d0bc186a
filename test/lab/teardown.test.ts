// The lab always cleans up: after a failed boot, a service that does not come up, a failing
// test, a test process that is terminated, throws, or is killed outright (then the next run
// sweeps). "Clean" means: no UML process, no network namespace, no run directory of the lab,
// and the host's mounts and loop devices as they were.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  LabError,
  hostSnapshot,
  labLeftovers,
  labRequirements,
  preflight,
  snapshotDiff,
  startLab,
  sweepStaleRuns,
  withLab,
  type HostSnapshot,
} from './harness/index.js';
import { listNetns, taggedProcesses } from './harness/host.js';

const HOLD_LAB = fileURLToPath(new URL('./tools/hold-lab.js', import.meta.url));
let baseline: HostSnapshot;

before(() => {
  preflight({ requirements: labRequirements({ nodes: [{ name: 'n', services: ['nfs'] }] }) });
  sweepStaleRuns();
  baseline = hostSnapshot();
});

function assertClean(): void {
  assert.deepEqual(labLeftovers(), [], 'the lab left things on the host');
  assert.deepEqual(snapshotDiff(baseline, hostSnapshot()), [], "the host's mounts or loop devices changed");
}

after(assertClean);

test('a node that does not boot in time fails with its console, and leaves nothing', async () => {
  await assert.rejects(startLab({ name: 'teardown-boot', nodes: [{ name: 'slow' }], bootTimeoutMs: 1 }), (e: Error) => {
    assert.ok(e instanceof LabError);
    assert.match(e.message, /node slow did not boot within 1 ms/);
    assert.match(e.message, /--- console \(.*console\.log\), last lines:/);
    return true;
  });
  assertClean();
});

test('a service that does not come up in time fails with its logs, and leaves nothing', async () => {
  await assert.rejects(
    startLab({ name: 'teardown-service', nodes: [{ name: 'node1', services: ['nfs'] }], serviceTimeoutMs: { nfs: 1 } }),
    (e: Error) => {
      assert.match(e.message, /service nfs on node node1 did not come up within 1 ms/);
      assert.match(e.message, /mountd\.log, last lines:/);
      assert.match(e.message, /--- console/);
      return true;
    },
  );
  assertClean();
});

test('a command past its deadline is killed; a failing test still tears its lab down', async () => {
  let runDir = '';
  await assert.rejects(
    withLab({ name: 'teardown-exec', nodes: [{ name: 'node1' }] }, async (lab) => {
      runDir = lab.run.runDir;
      const r = await lab.node('node1').exec(['sleep', '60'], { timeoutMs: 300 });
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(r.durationMs < 10_000, `took ${r.durationMs} ms`);
      // The node cannot write the host's file system (hostfs root mounted read-only)...
      const probe = await lab.node('node1').exec(['touch', '/etc/poolcsi-lab-probe']);
      assert.match(probe.stderr, /Read-only file system/);
      // ...but can write its private tmpfs and the lab's own directories.
      await lab.node('node1').run(['touch', '/etc/lvm/probe', `${lab.node('node1').runDir}/probe`]);
      await lab.node('node1').run(['false']);
    }),
    /node node1: false: exit code 1/,
  );
  assert.equal(existsSync(runDir), false);
  assertClean();
});

interface Held {
  runId: string;
  tag: string;
  netns: string;
  runDir: string;
}

/** Start tools/hold-lab.js and wait for its lab to be up. */
async function holdLab(args: string[] = []) {
  const child = execa(process.execPath, [HOLD_LAB, ...args], { reject: false, buffer: true, lines: false });
  const held = await new Promise<Held>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Held);
    });
    void child.then((r) => reject(new Error(`hold-lab ended before its lab was up: ${r.stderr}`)));
  });
  // The lab is really there: its kernel runs and its namespace exists.
  assert.ok(taggedProcesses(held.tag).length > 0);
  assert.ok(listNetns().includes(held.netns));
  return { child, held };
}

function assertGone(held: Held): void {
  assert.deepEqual(taggedProcesses(held.tag), [], 'UML processes left');
  assert.equal(listNetns().includes(held.netns), false, 'namespace left');
  assert.equal(existsSync(held.runDir), false, 'run directory left');
}

test('a test process terminated by SIGTERM tears its lab down', async () => {
  const { child, held } = await holdLab();
  child.kill('SIGTERM');
  const r = await child;
  assert.equal(r.signal, 'SIGTERM');
  assertGone(held);
  assertClean();
});

test('a test process that dies of an uncaught error tears its lab down', async () => {
  const { child, held } = await holdLab(['--throw']);
  child.stdin.write('throw now\n');
  const r = await child;
  assert.equal(r.exitCode, 1);
  assert.match(String(r.stderr), /thrown on purpose/);
  assertGone(held);
  assertClean();
});

test("a test process killed by SIGKILL leaves its lab, and the next run's sweep removes it", async () => {
  const { child, held } = await holdLab();
  child.kill('SIGKILL');
  await child;
  // Nothing could run in the killed process: its kernel and namespace are still there...
  assert.ok(taggedProcesses(held.tag).length > 0);
  assert.ok(listNetns().includes(held.netns));
  // ...until a lab starts (startLab sweeps first) or the sweep runs by itself.
  assert.ok(sweepStaleRuns().includes(held.runId));
  assertGone(held);
  assertClean();
});
