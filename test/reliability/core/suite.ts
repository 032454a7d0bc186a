// One lane's whole run: crash consistency, then the fuzz with its file-system, argv, liveness and
// time checks. Returns one report; nothing here knows a pool type.
import { statSync } from 'node:fs';
import { runCrash, type CrashReport } from './crash.js';
import { runFuzz, type FuzzContext, type FuzzReport } from './fuzz.js';
import { checkArgv, execLines, type ArgvRules } from './argv.js';
import { diff, snapshot, type FsAreas } from './fsnap.js';
import { MiB, type Lane } from './lane.js';
import type { DriverProcess } from './proc.js';

export interface FuzzSetup {
  /** Pools served by the driver (the one under test and others, for cross-pool ids). */
  pools: string[];
  nodeIds: string[];
  goodPaths: string[];
  baitPaths: string[];
  areas: Omit<FsAreas, 'marker'>;
  argv: ArgvRules;
  boundMs: number;
  skip?: string[];
}

export interface LaneReport {
  type: string;
  crash?: CrashReport;
  fuzz?: FuzzReport & { execs: number; argvFindings: string[]; fsCreated: string[]; fsRemoved: string[]; aliveAfter: boolean; crashes: string[] };
}

export async function runLane(lane: Lane, driver: DriverProcess, o: {
  seed: number; ops: number; fuzz: number; stageRounds: number; fuzzSetup?: FuzzSetup; log?: (s: string) => void; killRate?: number;
}): Promise<LaneReport> {
  const log = o.log ?? (() => {});
  const rep: LaneReport = { type: lane.type };
  if (!driver.running) await driver.start();
  if (o.ops > 0) {
    log(`${lane.type}: crash run, ${o.ops} operations, seed ${o.seed}`);
    rep.crash = await runCrash(lane, driver, { ops: o.ops, seed: o.seed, stageRounds: o.stageRounds, log, ...(o.killRate !== undefined ? { killRate: o.killRate } : {}) });
    // The crash figures at once, so a fuzz that runs out of time does not take them along.
    log(`CRASH ${JSON.stringify({ ...rep.crash, problems: problems({ type: lane.type, crash: rep.crash }) })}`);
  }
  if (o.fuzz > 0 && o.fuzzSetup) {
    const f = o.fuzzSetup;
    log(`${lane.type}: fuzz, ${o.fuzz} requests, seed ${o.seed}`);
    const marker = `relfuzz${o.seed}`;
    const c = driver.client;
    // Real objects for the fuzz to aim at (in the pool under test); the second only through templates, so it stays.
    const volumeIds: string[] = [];
    const contexts: Array<Record<string, string>> = [];
    const snapshotIds: string[] = [];
    for (const n of [1, 2]) {
      const r = await c.call('Controller.CreateVolume', {
        name: `fuzzseed-${o.seed}-${n}`, capacity_range: { required_bytes: String(lane.sizesMiB[0]! * MiB) }, volume_capabilities: [lane.capability],
        parameters: { pool: lane.pool, ...lane.parameters }, ...lane.createExtras, ...(lane.secrets ? { secrets: lane.secrets } : {}),
      }, lane.callTimeoutMs);
      if (r.ok) { volumeIds.push(r.response.volume.volume_id); contexts.push(r.response.volume.volume_context ?? {}); }
    }
    if (lane.features.snapshots && volumeIds[0]) {
      const s = await c.call('Controller.CreateSnapshot', { name: `fuzzsnap-${o.seed}`, source_volume_id: volumeIds[0], ...(lane.secrets ? { secrets: lane.secrets } : {}) }, lane.callTimeoutMs);
      if (s.ok) snapshotIds.push(s.response.snapshot.snapshot_id);
    }
    const ctx: FuzzContext = {
      pools: f.pools, volumeIds: volumeIds.slice(0, 1), snapshotIds, nodeIds: f.nodeIds, goodPaths: f.goodPaths, baitPaths: f.baitPaths, marker,
      templates: templates(lane, volumeIds[1] ?? '', contexts[1] ?? {}, snapshotIds[0] ?? '', f.goodPaths),
    };
    const areas: FsAreas = { ...f.areas, marker, mountWatch: [...f.baitPaths, ...(f.areas.mountWatch ?? [])] };
    const before = snapshot(areas);
    const offset = statSync(driver.o.logFile).size;
    const crashes0 = driver.crashes.length;
    const fz = await runFuzz(c, driver.o.socket, ctx, { seed: o.seed, requests: o.fuzz, boundMs: f.boundMs, alive: () => driver.running, log, ...(f.skip ? { skip: f.skip } : {}) });
    const after = snapshot(areas);
    const execs = execLines(driver.o.logFile, offset);
    const argvFindings: string[] = [];
    for (const e of execs) {
      const bad = checkArgv(e, f.argv);
      if (bad.length) argvFindings.push(`${e.program} ${JSON.stringify(e.args).slice(0, 300)}: ${bad.join('; ')}`);
    }
    const d = diff(before, after);
    const probe = await c.call('Identity.Probe', {}, 5_000);
    rep.fuzz = { ...fz, execs: execs.length, argvFindings, fsCreated: d.created, fsRemoved: d.removed, aliveAfter: probe.ok && driver.running, crashes: driver.crashes.slice(crashes0) };
  }
  return rep;
}

/** Well-formed requests for the RPCs that act, so mutations reach past the first checks. */
function templates(lane: Lane, vol: string, context: Record<string, string>, snap: string, paths: string[]): Record<string, Record<string, unknown>> {
  const sec = lane.secrets ? { secrets: lane.secrets } : {};
  const cap = lane.capability;
  const stage = paths[0]!;
  const target = paths[1]!;
  const create = {
    name: 'fuzz-made', capacity_range: { required_bytes: String(lane.sizesMiB[0]! * MiB) }, volume_capabilities: [cap],
    parameters: { pool: lane.pool, ...lane.parameters }, ...lane.createExtras, ...sec,
  };
  return {
    'Controller.CreateVolume': { ...create, volume_content_source: { snapshot: { snapshot_id: snap } } },
    'Controller.DeleteVolume': { volume_id: `${lane.pool}:fuzz-made`, ...sec },
    'Controller.CreateSnapshot': { name: 'fuzz-snap', source_volume_id: vol, ...sec },
    'Controller.DeleteSnapshot': { snapshot_id: `${vol}@fuzz-snap`, ...sec },
    'Controller.ControllerExpandVolume': { volume_id: vol, capacity_range: { required_bytes: String(lane.sizesMiB[0]! * 2 * MiB) }, volume_capability: cap, ...sec },
    'Controller.ControllerPublishVolume': { volume_id: vol, node_id: lane.nodeId, volume_capability: cap, readonly: false, ...sec },
    'Controller.ControllerUnpublishVolume': { volume_id: vol, node_id: lane.nodeId, ...sec },
    'Controller.ValidateVolumeCapabilities': { volume_id: vol, volume_capabilities: [cap], parameters: { pool: lane.pool } },
    'Controller.ControllerGetVolume': { volume_id: vol },
    'Controller.GetCapacity': { parameters: { pool: lane.pool }, volume_capabilities: [cap] },
    'Controller.ListVolumes': { max_entries: 2 },
    'Controller.ListSnapshots': { source_volume_id: vol },
    // The volume_context CreateVolume returned (the node reads only that): without it every
    // stage is refused at the first check and the fuzz never reaches a mount.
    'Node.NodeStageVolume': { volume_id: vol, staging_target_path: stage, volume_capability: cap, volume_context: context, ...sec },
    'Node.NodeUnstageVolume': { volume_id: vol, staging_target_path: stage },
    'Node.NodePublishVolume': { volume_id: vol, staging_target_path: stage, target_path: target, volume_capability: cap, readonly: false },
    'Node.NodeUnpublishVolume': { volume_id: vol, target_path: target },
    'Node.NodeGetVolumeStats': { volume_id: vol, volume_path: target, staging_target_path: stage },
    'Node.NodeExpandVolume': { volume_id: vol, volume_path: target, capacity_range: { required_bytes: String(lane.sizesMiB[0]! * 4 * MiB) }, staging_target_path: stage },
  };
}

/** A lane's counts on one line (the CI log's figures; docs/reliability.md tabulates them). */
export function summary(r: LaneReport, seed: number, found: number, root: string): string {
  const c = r.crash;
  const f = r.fuzz;
  return `${r.type} seed ${seed}: ${c ? `${c.ops} ops, ${c.kills} kills, ${c.retries} retries, ${c.leaks.length} leaks, ${c.losses.length} losses, ${c.strays.length} strays, ${c.afterDrain.length} left after drain, ${c.stageRounds} stage rounds; ` : ''}`
    + `${f ? `fuzz ${f.requests} requests (${f.raw} raw), ${f.execs} programs run, ${f.findings.length} bad answers, ${f.argvFindings.length} bad argv, ${f.fsCreated.length + f.fsRemoved.length} fs changes, crashes ${f.crashes.length}, slowest ${f.slowest.ms} ms; ` : ''}`
    + `${found} problems (scratch ${root})`;
}

/** Every way a lane report says the driver misbehaved, one line each (empty = clean). */
export function problems(r: LaneReport): string[] {
  const out: string[] = [];
  const c = r.crash;
  if (c) {
    const seed = `seed ${c.seed}`;
    for (const [k, xs] of Object.entries({ leak: c.leaks, loss: c.losses, 'listed but not held by the CO': c.listedNotBelieved, 'held by the CO but not listed': c.believedNotListed, stray: c.strays, 'left after the CO deleted everything': c.afterDrain, crash: c.crashes })) {
      for (const x of xs) out.push(`${r.type} crash ${seed}: ${k}: ${x}`);
    }
    for (const u of [...c.unexpected, ...c.stageFindings]) out.push(`${r.type} crash ${seed} op ${u.op}: ${u.kind}: ${u.what}`);
  }
  const f = r.fuzz;
  if (f) {
    for (const x of f.findings) out.push(`${r.type} fuzz seed ${f.seed} #${x.index} ${x.rpc}: ${x.what} | ${x.request ?? ''}`);
    for (const x of f.argvFindings) out.push(`${r.type} fuzz seed ${f.seed}: unchecked argv: ${x}`);
    for (const x of f.fsCreated) out.push(`${r.type} fuzz seed ${f.seed}: created outside the pools: ${x}`);
    for (const x of f.fsRemoved) out.push(`${r.type} fuzz seed ${f.seed}: removed outside the pools: ${x}`);
    for (const x of f.crashes) out.push(`${r.type} fuzz seed ${f.seed}: driver crash: ${x}`);
    if (!f.aliveAfter) out.push(`${r.type} fuzz seed ${f.seed}: the driver does not answer Probe after the fuzz`);
  }
  return out;
}
