// Runs SshRunner scenarios from inside a lab node against another node's sshd (the host cannot
// reach the lab's network). For test/lab/ssh-runner.test.ts:
//   node ssh-run.js < request.json      request: { target: <SSH target>, scenario, ... }
// Prints one JSON object (the scenario's findings) and exits 0; a failure of the tool itself
// exits 1 with the error on stderr.
import { readFileSync } from 'node:fs';
import { closeSshRunners, sshRunnerFor } from '../../../src/backends/ssh.js';
import { DirSecrets } from '../../../src/backends/secrets.js';
import { createThickCmd } from '../../../src/backends/lvm/commands.js';
import { Lvm } from '../../../src/backends/lvm/lvm.js';
import { LvmThickBackend } from '../../../src/backends/lvm/thick.js';
import { ExecError } from '../../../src/exec/index.js';
import type { SshRunner } from '../../../src/exec/ssh.js';
import { LvmPoolSchema } from '../../../src/pools/schema.js';
import { SshTargetSchema } from '../../../src/pools/ssh.js';

interface Request {
  target: unknown;
  scenario: 'lvm-create' | 'lvm-delete' | 'argv' | 'timeout' | 'concurrent';
  vg?: string;
  volume?: string;
  requestName?: string;
  args?: string[];
  tag?: string;
}

const req = JSON.parse(readFileSync(0, 'utf8')) as Request;
const target = SshTargetSchema.parse(req.target);
// Keys come from files in the lab; no Secret lookups happen.
const runner: SshRunner = await sshRunnerFor(target, 'lab target', new DirSecrets('/nonexistent'));

const failure = (e: unknown) => (e instanceof ExecError
  ? { reason: e.reason, message: e.message, stderr: e.stderr, exitCode: e.exitCode ?? null }
  : { reason: 'other', message: e instanceof Error ? e.message : String(e) });

async function scenario(): Promise<unknown> {
  switch (req.scenario) {
    case 'lvm-create': {
      // The pool's own backend, unchanged, over SSH: lvcreate with tags, then read back by lvs.
      const pool = LvmPoolSchema.parse({ id: 'ssh', type: 'lvm', vgname: req.vg });
      const backend = new LvmThickBackend(pool, runner, 'storage');
      const vg = await new Lvm(runner, pool.vgname).vgInfo();
      const created = await backend.createVolume({
        name: req.volume!, requestName: req.requestName!, sizeBytes: 64 * 1024 * 1024, limitBytes: 0, mode: 'filesystem', params: {},
        pvc: { namespace: 'default', name: 'claim' },
      });
      const again = await backend.createVolume({
        name: req.volume!, requestName: req.requestName!, sizeBytes: 64 * 1024 * 1024, limitBytes: 0, mode: 'filesystem', params: {},
        pvc: { namespace: 'default', name: 'claim' },
      });
      const read = await backend.getVolume(req.volume!);
      const listed = (await backend.listVolumes()).map((v) => v.name);
      const capacity = await backend.capacity();
      // A raw tag that LVM refuses: the whole hostile string must reach lvcreate as one argument.
      let rawTag: unknown;
      try {
        const cmd = createThickCmd(pool.vgname, 'hostile-tag', 4 * 1024 * 1024, { mirror: 0, stripes: 1 }, [req.tag!]);
        await runner.run(cmd.program, cmd.args, { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
        rawTag = { ok: true };
      } catch (e) {
        rawTag = failure(e);
      }
      return { vg: { name: vg.name, sizeBytes: vg.sizeBytes }, created, again, read, listed, capacity, rawTag, stats: runner.stats() };
    }
    case 'lvm-delete': {
      // saferemove: the LV's device is found on the storage host (its /sys and /dev, not this
      // node's) and zeroed there before lvremove.
      const pool = LvmPoolSchema.parse({ id: 'ssh', type: 'lvm', vgname: req.vg, saferemove: 'zero' });
      const backend = new LvmThickBackend(pool, runner, 'storage');
      await backend.deleteVolume(req.volume!);
      await backend.deleteVolume(req.volume!); // idempotent
      return { after: (await backend.getVolume(req.volume!)) ?? null, listed: (await backend.listVolumes()).map((v) => v.name) };
    }
    case 'argv': {
      // printf repeats its format per argument: each argument comes back NUL-terminated.
      try {
        const r = await runner.run('printf', ['%s\\0', ...req.args!]);
        // In /tmp, so that an injected relative `touch pwned` would leave /tmp/pwned.
        const touched = await runner.run('touch', req.args!.filter((a) => a.startsWith('/tmp/')), { cwd: '/tmp' });
        return { printed: r.stdout.split('\0').slice(0, -1), touched: touched.exitCode };
      } catch (e) {
        return { error: failure(e) };
      }
    }
    case 'timeout': {
      // Connected first: the short deadline below is for the command, not for a UML handshake.
      await runner.run('true', []);
      const started = Date.now();
      try {
        await runner.run('sh', ['-c', 'echo $$ > /tmp/ssh-timeout.pid; exec sleep 611'], { timeoutMs: 1000 });
        return { ok: true };
      } catch (e) {
        const tookMs = Date.now() - started;
        // The connection is still good for the next call.
        const next = (await runner.run('echo', ['next'])).stdout;
        return { error: failure(e), tookMs, next };
      }
    }
    case 'concurrent': {
      // More calls than sessions at once: one connection, all answered.
      const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => runner.run('sh', ['-c', `lvs >/dev/null && echo ${i}`])));
      return { outputs: runs.map((r) => r.stdout.trim()), stats: runner.stats() };
    }
  }
}

try {
  process.stdout.write(`${JSON.stringify(await scenario())}\n`);
} finally {
  await closeSshRunners();
}
