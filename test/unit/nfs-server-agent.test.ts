// The nfs server agent's commands (exact argv) and its reading of xfs_quota's answers; the
// outputs in test/fixtures/nfs/ were recorded from xfs_quota 6.1 and findmnt in a lab node
// (nfs service with LAB_NFS_EXPORT_FS=xfs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { RunOptions, RunResult, Runner } from '../../src/exec/index.js';
import { ExecError } from '../../src/exec/index.js';
import {
  projectEnforced, projectIdFor, quotaLimitCommand, quotaSetCommand, ServerAgent,
} from '../../src/backends/nfs/serveragent.js';
import { StorageError } from '../../src/backends/errors.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/nfs/${name}`, import.meta.url), 'utf8');

test('quota commands: one xfs_quota subcommand argument, checked values only', () => {
  assert.deepEqual(quotaSetCommand('/srv/nfs', '/srv/nfs/pvc-1', 4242), ['-x', '-c', 'project -s -p /srv/nfs/pvc-1 4242', '/srv/nfs']);
  assert.deepEqual(quotaLimitCommand('/srv/nfs', 4242, 16777216), ['-x', '-c', 'limit -p bhard=16777216 4242', '/srv/nfs']);
  assert.deepEqual(quotaLimitCommand('/srv/nfs', 4242, 0), ['-x', '-c', 'limit -p bhard=0 4242', '/srv/nfs']);
  assert.throws(() => quotaSetCommand('/srv/nfs', '/srv/nfs/a b', 1), /not usable/);
  assert.throws(() => quotaSetCommand('/srv/nfs', "/srv/nfs/a'b", 1), /not usable/);
  assert.throws(() => quotaSetCommand('/srv/nfs', '/srv/nfs/../etc', 1), /not usable/);
  assert.throws(() => quotaSetCommand('/srv/nfs', '/srv/nfs/a', 0), /out of range/);
  assert.throws(() => quotaLimitCommand('/srv/nfs', 1, 1.5), /not a byte count/);
  assert.throws(() => quotaLimitCommand('/srv/nfs', 2 ** 31, 1), /out of range/);
});

test('project ids: stable per volume name, in range, another on the next attempt', () => {
  assert.equal(projectIdFor('pvc-1'), projectIdFor('pvc-1'));
  assert.notEqual(projectIdFor('pvc-1'), projectIdFor('pvc-1', 1));
  for (const n of ['a', 'pvc-2', 'x'.repeat(200)]) {
    const id = projectIdFor(n);
    assert.ok(Number.isInteger(id) && id >= 1 && id <= 0x7fffffff, `${n}: ${id}`);
  }
});

test('state -p as recorded: project quota accounted and enforced', () => {
  assert.equal(projectEnforced(fixture('xfs-quota-state-p.txt')), true);
  assert.equal(projectEnforced(fixture('xfs-quota-state-p.txt').replace('Enforcement: ON', 'Enforcement: OFF')), false);
  assert.equal(projectEnforced(''), false);
});

/** A runner that answers from recorded outputs and records every argv (no backend behind it). */
function replay(answers: Record<string, string | ExecError>): { runner: Runner; calls: string[][] } {
  const calls: string[][] = [];
  const runner: Runner = {
    host: 'nfs1',
    async run(program: string, args: readonly string[], _o?: RunOptions): Promise<RunResult> {
      calls.push([program, ...args]);
      const key = [program, ...args].join(' ');
      const a = Object.entries(answers).find(([k]) => key.startsWith(k))?.[1];
      if (a instanceof ExecError) throw a;
      return { stdout: a ?? '', stderr: '', exitCode: 0 } as RunResult;
    },
  } as Runner;
  return { runner, calls };
}

const spec = { ssh: {} as never, quota: 'xfs-project' as const, snapshots: 'reflink' as const };

test('limitTree: finds the XFS mount, checks enforcement once, tags the tree, sets the limit', async () => {
  const { runner, calls } = replay({ findmnt: fixture('findmnt-target-xfs.txt'), 'xfs_quota -x -c state -p': fixture('xfs-quota-state-p.txt') });
  const agent = new ServerAgent(spec, '/srv/nfs', 'pool "shared" server agent', 5000, async () => runner);
  await agent.limitTree('pvc-1', 4242, 64 << 20);
  await agent.setLimit(4242, 128 << 20);
  assert.deepEqual(calls, [
    ['findmnt', '-n', '-o', 'TARGET,FSTYPE', '--target', '/srv/nfs'],
    ['xfs_quota', '-x', '-c', 'state -p', '/srv/nfs'],
    ['xfs_quota', '-x', '-c', 'project -s -p /srv/nfs/pvc-1 4242', '/srv/nfs'],
    ['xfs_quota', '-x', '-c', `limit -p bhard=${64 << 20} 4242`, '/srv/nfs'],
    ['xfs_quota', '-x', '-c', `limit -p bhard=${128 << 20} 4242`, '/srv/nfs'],
  ]);
});

test('an export that is not XFS is FAILED_PRECONDITION with the reason', async () => {
  const { runner } = replay({ findmnt: fixture('findmnt-target-tmpfs.txt') });
  const agent = new ServerAgent(spec, '/run', 'pool "shared" server agent', 5000, async () => runner);
  await assert.rejects(agent.limitTree('pvc-1', 1, 1), (e: StorageError) => e.kind === 'precondition' && /on XFS; it is on tmpfs/.test(e.message));
});

test('reflink: clears a half-made copy, then cp --reflink=always on the server; an unreachable server is UNAVAILABLE', async () => {
  const { runner, calls } = replay({});
  const agent = new ServerAgent(spec, '/srv/nfs', 'pool "shared" server agent', 5000, async () => runner);
  await agent.reflink('pvc-1', '.poolcsi/snapshots/pvc-1@s1');
  assert.deepEqual(calls, [
    ['rm', '-rf', '--one-file-system', '--', '/srv/nfs/.poolcsi/snapshots/pvc-1@s1'],
    ['cp', '-a', '--reflink=always', '--', '/srv/nfs/pvc-1', '/srv/nfs/.poolcsi/snapshots/pvc-1@s1'],
  ]);
  const down = replay({ rm: new ExecError('rm', [], undefined, '', '', 'spawn', 'nfs1') });
  const agent2 = new ServerAgent(spec, '/srv/nfs', 'pool "shared" server agent', 5000, async () => down.runner);
  await assert.rejects(agent2.reflink('a', 'b'), (e: StorageError) => e.kind === 'unavailable');
});
