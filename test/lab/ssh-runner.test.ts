// The SSH runner against the lab's real sshd: a `client` node runs test/lab/tools/ssh-run.js
// (the runner and the LVM backend, unchanged) against the `storage` node over the lab's
// Ethernet, with the storage node's host key pinned. The storage node is then inspected
// directly (through the lab agent, not SSH) for what really happened there.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { keyPair } from '../unit/ssh-server.js';
import { parseHostKey } from '../../src/exec/ssh.js';
import { REPO_ROOT, startLab, type Lab, type LabNode } from './harness/index.js';
import { pollUntil } from './harness/poll.js';

const TOOL = join(REPO_ROOT, 'dist', 'test', 'lab', 'tools', 'ssh-run.js');
const HOSTILE_TAG = "'; touch /tmp/pwned #";

let lab: Lab | undefined;
let hostKey = '';

before(async () => {
  lab = await startLab({
    name: 'ssh-runner',
    network: true,
    nodes: [{ name: 'storage', services: ['lvm', 'sshd'] }, { name: 'client', memMiB: 768 }],
  });
  hostKey = (await nodes().storage.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
});

after(async () => {
  await lab?.close();
});

function nodes(): { storage: LabNode; client: LabNode } {
  assert.ok(lab, 'the lab did not start');
  return { storage: lab.node('storage'), client: lab.node('client') };
}

function target(o: Record<string, unknown> = {}): Record<string, unknown> {
  assert.ok(lab);
  return { host: nodes().storage.ip, privateKey: { file: lab.sshKey }, hostKey, maxSessions: 3, ...o };
}

/** One scenario of the tool in the client node; its JSON findings. */
async function remote(scenario: string, extra: Record<string, unknown> = {}, t = target()): Promise<any> {
  const r = await nodes().client.exec([process.execPath, TOOL], { input: JSON.stringify({ target: t, scenario, ...extra }), timeoutMs: 120_000 });
  assert.equal(r.code, 0, `ssh-run ${scenario} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Logins sshd accepted so far (sshd -e logs each to its log). */
async function logins(): Promise<number> {
  const r = await nodes().storage.exec(['sh', '-c', 'grep -c "Accepted publickey" "$LAB_LOG_DIR/sshd.log"']);
  return Number(r.stdout.trim() || '0');
}

async function noFile(path: string): Promise<boolean> {
  return (await nodes().storage.exec(['test', '-e', path])).code !== 0;
}

test('a wrong pinned host key is refused before any login or command', async () => {
  const before = await logins();
  const other = keyPair().public;
  const presented = parseHostKey(hostKey).fingerprint;
  for (const pinned of [other, parseHostKey(other).fingerprint]) {
    const r = await remote('argv', { args: ['/tmp/wrong-key-ran'] }, target({ hostKey: pinned }));
    assert.equal(r.error?.reason, 'spawn', JSON.stringify(r));
    assert.ok(r.error.message.includes(
      `host key mismatch for root@192.168.77.1:22: expected ${parseHostKey(other).fingerprint}, the server presented ${presented}`,
    ), r.error.message);
  }
  assert.equal(await logins(), before, 'sshd accepted a login from a client that did not trust it');
  assert.ok(await noFile('/tmp/wrong-key-ran'));
});

test('lvm: the backend creates, reads and deletes (saferemove zero) an LV over SSH; a hostile request name round-trips', async () => {
  const { storage } = nodes();
  const requestName = `pvc-${HOSTILE_TAG} $(touch /tmp/pwned) \`touch /tmp/pwned\``;
  const made = await remote('lvm-create', { vg: 'labvg', volume: 'ssh-vol-1', requestName, tag: HOSTILE_TAG });
  assert.equal(made.vg.name, 'labvg');
  assert.equal(made.created.name, 'ssh-vol-1');
  assert.equal(made.created.sizeBytes, 64 * 1024 * 1024);
  assert.equal(made.again.sizeBytes, 64 * 1024 * 1024, 'the second create answers from the existing LV');
  assert.equal(made.read?.requestName, requestName);
  assert.deepEqual(made.listed, ['ssh-vol-1']);
  assert.ok(made.capacity.availableBytes > 0);
  // The raw hostile tag reached lvcreate as one argument, which LVM refuses as a tag.
  assert.equal(made.rawTag.reason, 'exit', JSON.stringify(made.rawTag));
  assert.ok(made.rawTag.stderr.includes(HOSTILE_TAG), made.rawTag.stderr);
  assert.equal(made.stats.connects, 1, 'one connection for the whole scenario');

  // On the storage node itself: the LV with the encoded tags, nothing run from the names.
  const lvs = await storage.run(['lvs', '--noheadings', '-o', 'lv_name,lv_tags', 'labvg']);
  assert.match(lvs.stdout, /ssh-vol-1 .*poolcsi\.io\/pool=ssh/);
  assert.ok(!lvs.stdout.includes('hostile-tag'));
  assert.ok(await noFile('/tmp/pwned'));

  const gone = await remote('lvm-delete', { vg: 'labvg', volume: 'ssh-vol-1' });
  assert.equal(gone.after, null);
  assert.deepEqual(gone.listed, []);
  assert.ok(!(await storage.run(['lvs', '--noheadings', '-o', 'lv_name', 'labvg'])).stdout.includes('ssh-vol-1'));
});

test('hostile arguments arrive literally on the storage host', async () => {
  const args = [
    // File names (no "/" inside): each must become exactly one file in /tmp.
    HOSTILE_TAG, "/tmp/ssh-literal-'; touch pwned #", '/tmp/ssh-literal-$(touch pwned)', '/tmp/ssh-literal-`touch pwned`',
    'two words', '"double"', 'a;b|c&&d', 'line\nbreak', '-n', '--', '', '*', '$HOME', 'ünïcödé ✓',
  ];
  const r = await remote('argv', { args });
  assert.deepEqual(r.printed, args, JSON.stringify(r));
  const { storage } = nodes();
  const listed = (await storage.run(['find', '/tmp', '-maxdepth', '1', '-name', 'ssh-literal-*', '-print0'])).stdout.split('\0').filter(Boolean).sort();
  assert.deepEqual(listed, args.filter((a) => a.startsWith('/tmp/')).sort());
  // touch ran in /tmp: an injected `touch pwned` would have left /tmp/pwned.
  assert.ok(await noFile('/tmp/pwned'));
});

test('a timeout kills the remote command: no process left on the storage host', async () => {
  const { storage } = nodes();
  const r = await remote('timeout');
  assert.equal(r.error?.reason, 'timeout', JSON.stringify(r));
  assert.ok(r.tookMs < 10_000, `the call took ${r.tookMs} ms`);
  assert.equal(r.next, 'next\n', 'the connection serves the next call');
  const pid = (await storage.run(['cat', '/tmp/ssh-timeout.pid'])).stdout.trim();
  assert.match(pid, /^[0-9]+$/, 'the command had started');
  // sshd refuses the KILL request to root logins (its log says "session signalling requires
  // privilege separation"): the host's `timeout` wrapper ends the command a second after the
  // deadline. A zombie left to the node's init counts as ended.
  const running = ['sh', '-c', 'test -d /proc/$1 && ! grep -q "^[0-9]* (.*) Z" /proc/$1/stat', 'sh', pid];
  await pollUntil(async () => ((await storage.exec(running)).code !== 0 ? true : undefined), {
    timeoutMs: 10_000, what: `the remote sleep (pid ${pid}) to end`,
  });
  assert.notEqual((await storage.exec(['pgrep', '-f', 'sleep 611'])).code, 0, 'a sleep 611 is still running');
});

test('ten concurrent calls share one connection and all complete under the session cap', async () => {
  const before = await logins();
  const r = await remote('concurrent');
  assert.deepEqual(r.outputs, Array.from({ length: 10 }, (_, i) => String(i)));
  assert.equal(r.stats.connects, 1);
  assert.equal(await logins(), before + 1, 'sshd saw more than one login');
});
