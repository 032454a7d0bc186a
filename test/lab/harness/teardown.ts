// Teardown that always happens: every lab run is registered here while it lives, and is
// destroyed by Lab.close(), by this process's exit or termination signals, or — when this
// process was killed outright (SIGKILL, a CI timeout) — by the next run's stale sweep.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNetnsSync, killTagged, listNetns, processStartTime, taggedProcesses, umlProcesses } from './host.js';
import { RUNS_DIR } from './paths.js';
import { pollUntilSync } from './poll.js';

/** Every UML process of the lab carries umid=plab-<runId>-<node> on its command line. */
export const UMID_PREFIX = 'plab-';
export const NETNS_PREFIX = 'poolcsi-lab-';

export interface RunRecord {
  runId: string;
  /** Substring of the command line of every UML process of this run. */
  tag: string;
  netns: string;
  runDir: string;
  ownerPid: number;
  ownerStart: string;
}

export function newRunRecord(): RunRecord {
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return {
    runId,
    tag: `umid=${UMID_PREFIX}${runId}-`,
    netns: `${NETNS_PREFIX}${runId}`,
    runDir: join(RUNS_DIR, runId),
    ownerPid: process.pid,
    ownerStart: processStartTime(process.pid) ?? '',
  };
}

const live = new Map<string, { rec: RunRecord; killNodes: () => void }>();
let handlersInstalled = false;

/** Create the run's directory with its owner record, and arrange its destruction. */
export function registerRun(rec: RunRecord, killNodes: () => void): void {
  installHandlers();
  mkdirSync(rec.runDir, { recursive: true });
  // Written whole or not at all: another process's sweep may read it at any moment.
  writeFileSync(join(rec.runDir, '.owner.json.tmp'), JSON.stringify(rec));
  renameSync(join(rec.runDir, '.owner.json.tmp'), join(rec.runDir, 'owner.json'));
  live.set(rec.runId, { rec, killNodes });
}

/** Kill the run's UML kernels, delete its namespace and its directory. Synchronous, so it
 * also works in an exit handler. Returns what is left (empty when all is gone). */
export function destroyRun(rec: RunRecord, killNodes?: () => void): string[] {
  killNodes?.();
  pollUntilSync(() => {
    killTagged(rec.tag);
    return taggedProcesses(rec.tag).length === 0;
  }, 15_000);
  deleteNetnsSync(rec.netns);
  rmSync(rec.runDir, { recursive: true, force: true });
  live.delete(rec.runId);
  return runLeftovers(rec);
}

export function runLeftovers(rec: RunRecord): string[] {
  const left: string[] = [];
  const pids = taggedProcesses(rec.tag);
  if (pids.length) left.push(`UML processes of run ${rec.runId}: ${pids.join(' ')}`);
  if (listNetns().includes(rec.netns)) left.push(`network namespace ${rec.netns}`);
  if (existsSync(rec.runDir)) left.push(`directory ${rec.runDir}`);
  return left;
}

/** Anything a lab run left on this host: what belongs to no live run (of this process or of
 * another live test process, whose labs are not leftovers). */
export function labLeftovers(): string[] {
  const liveRuns = new Set([...live.keys()]);
  for (const rec of readRunRecords()) if (ownerAlive(rec)) liveRuns.add(rec.runId);
  const runOf = (arg: string, prefix: string): string | undefined => (arg.startsWith(prefix) ? arg.slice(prefix.length).split('-')[0] : undefined);
  const left: string[] = [];
  const pids = umlProcesses()
    .filter((p) => p.args.some((a) => {
      const run = runOf(a, `umid=${UMID_PREFIX}`);
      return run !== undefined && !liveRuns.has(run);
    }))
    .map((p) => p.pid);
  if (pids.length) left.push(`UML processes: ${pids.join(' ')}`);
  for (const ns of listNetns()) {
    const run = runOf(ns, NETNS_PREFIX);
    if (run !== undefined && !liveRuns.has(run)) left.push(`network namespace ${ns}`);
  }
  if (existsSync(RUNS_DIR)) {
    for (const dir of readdirSync(RUNS_DIR)) if (!liveRuns.has(dir)) left.push(`directory ${join(RUNS_DIR, dir)}`);
  }
  return left;
}

function readRunRecords(): RunRecord[] {
  if (!existsSync(RUNS_DIR)) return [];
  const recs: RunRecord[] = [];
  for (const runId of readdirSync(RUNS_DIR)) {
    try {
      recs.push(JSON.parse(readFileSync(join(RUNS_DIR, runId, 'owner.json'), 'utf8')) as RunRecord);
    } catch {
      // being created right now, or not ours
    }
  }
  return recs;
}

function ownerAlive(rec: RunRecord): boolean {
  return processStartTime(rec.ownerPid) === rec.ownerStart;
}

/** Destroy what runs of dead processes left behind (their owner.json names a process that is
 * gone). Returns the run ids it swept. Only runs it can attribute: a namespace or kernel with
 * no run directory is reported by labLeftovers(), never killed blindly. */
export function sweepStaleRuns(): string[] {
  const swept: string[] = [];
  for (const rec of readRunRecords()) {
    if (ownerAlive(rec)) continue;
    destroyRun(rec);
    swept.push(rec.runId);
  }
  return swept;
}

function destroyAll(): void {
  for (const { rec, killNodes } of [...live.values()]) destroyRun(rec, killNodes);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      destroyAll();
      // Die of the same signal, as if we had not caught it.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
