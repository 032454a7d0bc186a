// Crash consistency: a seeded sequence of controller operations, the driver SIGKILLed at seeded
// points, restarted, and every unanswered request sent again as a CO would (same name, same
// parameters) until it gets a definite answer. Then the backend's truth is compared with what
// the CO believes, the driver's List* answers with both, and everything is deleted again.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RETRYABLE, type Outcome } from './csi.js';
import type { DriverProcess } from './proc.js';
import { MiB, type Lane } from './lane.js';
import { Rng } from './rng.js';

interface VolBelief { req: string; id: string; name: string; sizeBytes: number; published: boolean }
interface SnapBelief { req: string; id: string; key: string; source: string; sizeBytes: number }

export type OpKind = 'create' | 'restore' | 'clone' | 'snapshot' | 'expand' | 'deleteVolume' | 'deleteSnapshot' | 'publish' | 'unpublish';

export interface Finding { seed: number; op: number; kind: string; what: string }

export interface CrashReport {
  type: string;
  pool: string;
  seed: number;
  ops: number;
  opsByKind: Record<string, number>;
  kills: number;
  /** Requests sent again after a kill or a retryable answer. */
  retries: number;
  answers: Record<string, number>;
  /** Answers that were wrong for a well-formed request about objects the CO holds. */
  unexpected: Finding[];
  leaks: string[];
  losses: string[];
  /** Listed by ListVolumes/ListSnapshots but not held by the CO (half-made or leaked). */
  listedNotBelieved: string[];
  /** Held by the CO but missing from List*. */
  believedNotListed: string[];
  strays: string[];
  /** What the backend still held after the CO deleted everything it believes in. */
  afterDrain: string[];
  stageRounds: number;
  stageFindings: Finding[];
  crashes: string[];
  wallMs: number;
}

const volName = (id: string) => id.slice(id.indexOf(':') + 1);
const snapKey = (id: string) => id.slice(id.indexOf(':') + 1);

export interface CrashOptions { ops: number; seed: number; killRate?: number; stageRounds?: number; log?: (s: string) => void }

export async function runCrash(lane: Lane, driver: DriverProcess, o: CrashOptions): Promise<CrashReport> {
  const t0 = Date.now();
  const rng = new Rng(o.seed);
  const killRng = rng.fork(1);
  const log = o.log ?? (() => {});
  const killRate = o.killRate ?? 0.3;
  const vols = new Map<string, VolBelief>();
  const snaps = new Map<string, SnapBelief>();
  const rep: CrashReport = {
    type: lane.type, pool: lane.pool, seed: o.seed, ops: 0, opsByKind: {}, kills: 0, retries: 0, answers: {}, unexpected: [],
    leaks: [], losses: [], listedNotBelieved: [], believedNotListed: [], strays: [], afterDrain: [], stageRounds: 0, stageFindings: [],
    crashes: [], wallMs: 0,
  };
  const kills0 = driver.kills;
  const client = driver.client;
  const pub = lane.features.publish ?? await controllerCan(driver, 'PUBLISH_UNPUBLISH_VOLUME');
  let opIndex = 0;
  const note = (kind: string, what: string) => { rep.unexpected.push({ seed: o.seed, op: opIndex, kind, what }); log(`  ! op ${opIndex} ${kind}: ${what}`); };

  // How long each method's calls took when nothing killed them. A kill point is drawn within that
  // (at most killWindowMs): a fixed window sized for a loaded machine lets most kills land after
  // the answer on a quiet one (a zfs-iscsi run alone: 2 kills in 20 operations).
  const took = new Map<string, number>();
  const windowFor = (method: string) => Math.min(lane.killWindowMs, Math.max(50, took.get(method) ?? lane.killWindowMs));
  /** Sends `req`, maybe kills the driver at a seeded point, and repeats until a definite answer. */
  async function send(method: string, req: Record<string, unknown>, mayKill = true): Promise<Outcome> {
    const kill = mayKill && killRng.chance(killRate);
    const delay = Math.floor(killRng.next() * windowFor(method));
    let first = true;
    const deadline = Date.now() + 10 * 60_000;
    for (let attempt = 0; ; attempt++) {
      if (!first) rep.retries++;
      let timer: NodeJS.Timeout | undefined;
      let killing: Promise<void> | undefined;
      if (first && kill) timer = setTimeout(() => { killing = driver.kill(); }, delay);
      const sent = Date.now();
      const r = await client.call(method, req, lane.callTimeoutMs);
      if (timer) clearTimeout(timer);
      // The longest of this method's unkilled answers, decayed so one slow call does not rule.
      if (!killing && r.code !== 'UNAVAILABLE') took.set(method, Math.max(Date.now() - sent, 0.8 * (took.get(method) ?? 0)));
      if (killing) {
        await killing;
        await driver.start();
      } else if (!driver.running) {
        // An exit the harness did not cause: a crash. Restart so the run goes on, and report it.
        await driver.start();
      }
      first = false;
      rep.answers[r.code] = (rep.answers[r.code] ?? 0) + 1;
      if (!RETRYABLE.has(r.code)) return r;
      if (Date.now() > deadline) { note(method, `no definite answer after 10 minutes: ${r.code} ${r.details}`); return r; }
      if (r.code === 'INTERNAL' && !killing) note(method, `INTERNAL: ${r.details}`);
      // ABORTED (operation in progress) and the rest: back off a little, as a CO does.
      if (!killing) await new Promise((res) => setTimeout(res, Math.min(50 * 2 ** attempt, 1000)));
    }
  }

  const base = () => ({ ...(lane.secrets ? { secrets: lane.secrets } : {}) });
  const createReq = (req: string, sizeMiB: number, source?: Record<string, unknown>) => ({
    name: req,
    capacity_range: { required_bytes: String(sizeMiB * MiB) },
    volume_capabilities: [lane.capability],
    parameters: { pool: lane.pool, ...lane.parameters },
    ...(source ? { volume_content_source: source } : {}),
    ...lane.createExtras,
    ...base(),
  });

  function choose(): OpKind {
    const v = vols.size > 0;
    const s = snaps.size > 0;
    const weights: Array<[OpKind, number]> = [
      ['create', vols.size < 3 ? 6 : 3],
      ['restore', lane.features.snapshots && s ? 2 : 0],
      ['clone', lane.features.clones && v ? 2 : 0],
      ['snapshot', lane.features.snapshots && v ? 3 : 0],
      ['expand', lane.features.expand && v ? 2 : 0],
      ['deleteVolume', v ? (vols.size > 6 ? 4 : 2) : 0],
      ['deleteSnapshot', s ? (snaps.size > 4 ? 3 : 1) : 0],
      ['publish', pub && [...vols.values()].some((x) => !x.published) ? 1 : 0],
      ['unpublish', pub && [...vols.values()].some((x) => x.published) ? 1 : 0],
    ];
    const total = weights.reduce((a, [, w]) => a + w, 0);
    let x = rng.next() * total;
    for (const [k, w] of weights) { if ((x -= w) < 0) return k; }
    return 'create';
  }
  const sortedVols = () => [...vols.values()].sort((a, b) => a.req.localeCompare(b.req));
  const sortedSnaps = () => [...snaps.values()].sort((a, b) => a.req.localeCompare(b.req));

  async function created(kind: string, req: string, r: Outcome): Promise<void> {
    if (r.ok) {
      const v = r.response.volume;
      vols.set(req, { req, id: v.volume_id, name: volName(v.volume_id), sizeBytes: Number(v.capacity_bytes), published: false });
      if (lane.truth.fill) await lane.truth.fill(volName(v.volume_id), rng.next());
    } else if (r.code !== 'RESOURCE_EXHAUSTED') {
      note(kind, `${r.code}: ${r.details}`);
    }
  }

  for (opIndex = 0; opIndex < o.ops; opIndex++) {
    const kind = choose();
    rep.opsByKind[kind] = (rep.opsByKind[kind] ?? 0) + 1;
    const req = `rel-${o.seed}-${opIndex}`;
    const size = rng.pick(lane.sizesMiB);
    switch (kind) {
      case 'create': {
        await created(kind, req, await send('Controller.CreateVolume', createReq(req, size)));
        break;
      }
      case 'clone': {
        const src = rng.pick(sortedVols());
        const r = await send('Controller.CreateVolume', createReq(req, Math.ceil(src.sizeBytes / MiB), { volume: { volume_id: src.id } }));
        await created(kind, req, r);
        break;
      }
      case 'restore': {
        const s = rng.pick(sortedSnaps());
        // As big as the snapshot, sometimes bigger (a restore that grows).
        const r = await send('Controller.CreateVolume', createReq(req, Math.ceil(s.sizeBytes / MiB) + (rng.chance(0.5) ? 0 : rng.pick(lane.sizesMiB)), { snapshot: { snapshot_id: s.id } }));
        await created(kind, req, r);
        break;
      }
      case 'snapshot': {
        const src = rng.pick(sortedVols());
        const r = await send('Controller.CreateSnapshot', { name: `snapshot-${o.seed}-${opIndex}`, source_volume_id: src.id, ...base() });
        if (r.ok) {
          const id = r.response.snapshot.snapshot_id as string;
          snaps.set(req, { req, id, key: snapKey(id), source: src.id, sizeBytes: Number(r.response.snapshot.size_bytes) });
          if (!r.response.snapshot.ready_to_use) note(kind, `snapshot ${id} not ready_to_use`);
        } else if (r.code !== 'RESOURCE_EXHAUSTED') note(kind, `${r.code}: ${r.details}`);
        break;
      }
      case 'expand': {
        const v = rng.pick(sortedVols());
        const want = v.sizeBytes + rng.pick(lane.sizesMiB) * MiB;
        const r = await send('Controller.ControllerExpandVolume', {
          volume_id: v.id, capacity_range: { required_bytes: String(want) }, volume_capability: lane.capability, ...base(),
        });
        if (r.ok) {
          const got = Number(r.response.capacity_bytes);
          if (got < want) note(kind, `asked ${want} bytes, answered ${got}`);
          v.sizeBytes = got;
        } else if (r.code !== 'RESOURCE_EXHAUSTED') note(kind, `${r.code}: ${r.details}`);
        break;
      }
      case 'deleteVolume': {
        const v = rng.pick(sortedVols());
        if (v.published) {
          const u = await send('Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: lane.nodeId, ...base() });
          if (!u.ok) { note('unpublish', `${u.code}: ${u.details}`); break; }
          v.published = false;
        }
        const r = await send('Controller.DeleteVolume', { volume_id: v.id, ...base() });
        if (r.ok) vols.delete(v.req);
        else if (r.code !== 'FAILED_PRECONDITION') note(kind, `${r.code}: ${r.details}`);
        break;
      }
      case 'deleteSnapshot': {
        const s = rng.pick(sortedSnaps());
        const r = await send('Controller.DeleteSnapshot', { snapshot_id: s.id, ...base() });
        if (r.ok) snaps.delete(s.req);
        else if (r.code !== 'FAILED_PRECONDITION') note(kind, `${r.code}: ${r.details}`);
        break;
      }
      case 'publish': {
        const v = rng.pick(sortedVols().filter((x) => !x.published));
        const r = await send('Controller.ControllerPublishVolume', {
          volume_id: v.id, node_id: lane.nodeId, volume_capability: lane.capability, readonly: false, ...base(),
        });
        if (r.ok) v.published = true;
        else note(kind, `${r.code}: ${r.details}`);
        break;
      }
      case 'unpublish': {
        const v = rng.pick(sortedVols().filter((x) => x.published));
        const r = await send('Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: lane.nodeId, ...base() });
        if (r.ok) v.published = false;
        else note(kind, `${r.code}: ${r.details}`);
        break;
      }
    }
    rep.ops++;
    if (opIndex % 25 === 24) log(`  ${opIndex + 1}/${o.ops} ops, ${driver.kills - kills0} kills, ${vols.size} volumes, ${snaps.size} snapshots`);
  }

  // A last kill with nothing in flight, so the check reads what a fresh process reads.
  await driver.restart();
  await compare(lane, driver, rep, new Set([...vols.values()].map((v) => v.name)), new Set([...snaps.values()].map((s) => s.key)),
    new Set([...vols.values()].filter((v) => v.published).map((v) => v.name)));

  if (lane.features.stage && (o.stageRounds ?? 0) > 0) await stageRounds(lane, driver, rep, rng.fork(2), o.stageRounds!, send, createReq, log);

  // Drain: the CO deletes everything it holds (no kills); the backend must end empty.
  for (const s of sortedSnaps()) {
    const r = await send('Controller.DeleteSnapshot', { snapshot_id: s.id, ...base() }, false);
    if (r.ok) snaps.delete(s.req); else note('drain', `DeleteSnapshot ${s.id}: ${r.code} ${r.details}`);
  }
  for (let pass = 0; pass < 3 && vols.size > 0; pass++) {
    for (const v of sortedVols()) {
      if (v.published) await send('Controller.ControllerUnpublishVolume', { volume_id: v.id, node_id: lane.nodeId, ...base() }, false);
      const r = await send('Controller.DeleteVolume', { volume_id: v.id, ...base() }, false);
      if (r.ok) vols.delete(v.req);
      else if (pass === 2) note('drain', `DeleteVolume ${v.id}: ${r.code} ${r.details}`);
    }
  }
  const left = await lane.truth.read();
  rep.afterDrain = [...left.volumes.map((v) => `volume ${v}`), ...left.snapshots.map((s) => `snapshot ${s}`), ...left.strays, ...(left.access ?? []).map((v) => `access to ${v}`)];
  rep.kills = driver.kills - kills0;
  rep.crashes = [...driver.crashes];
  rep.wallMs = Date.now() - t0;
  return rep;
}

async function controllerCan(driver: DriverProcess, cap: string): Promise<boolean> {
  const r = await driver.client.call('Controller.ControllerGetCapabilities', {});
  return !!r.ok && (r.response.capabilities as Array<{ rpc?: { type: string } }>).some((c) => c.rpc?.type === cap);
}

async function listAll(driver: DriverProcess, method: string, key: 'volume' | 'snapshot'): Promise<string[] | string> {
  const ids: string[] = [];
  let token = '';
  for (let i = 0; i < 1000; i++) {
    const r = await driver.client.call(method, { max_entries: 50, starting_token: token });
    if (!r.ok) return `${method}: ${r.code} ${r.details}`;
    for (const e of r.response.entries) ids.push(key === 'volume' ? e.volume.volume_id : e.snapshot.snapshot_id);
    token = r.response.next_token;
    if (!token) return ids;
  }
  return `${method}: more than 1000 pages`;
}

async function compare(lane: Lane, driver: DriverProcess, rep: CrashReport, vols: Set<string>, snaps: Set<string>, published: Set<string>): Promise<void> {
  const truth = await lane.truth.read();
  const tv = new Set(truth.volumes);
  const ts = new Set(truth.snapshots);
  rep.leaks.push(...truth.volumes.filter((v) => !vols.has(v)).map((v) => `volume ${v}`), ...truth.snapshots.filter((s) => !snaps.has(s)).map((s) => `snapshot ${s}`));
  rep.losses.push(...[...vols].filter((v) => !tv.has(v)).map((v) => `volume ${v}`), ...[...snaps].filter((s) => !ts.has(s)).map((s) => `snapshot ${s}`));
  rep.strays.push(...truth.strays);
  if (truth.access) {
    // A node the CO unpublished that can still reach the volume is a leak of access; a publish
    // answered OK that the backend does not hold is a loss.
    const reach = new Set(truth.access);
    rep.leaks.push(...truth.access.filter((v) => !published.has(v)).map((v) => `access to ${v}`));
    rep.losses.push(...[...published].filter((v) => !reach.has(v)).map((v) => `access to ${v}`));
  }
  const inPool = (id: string) => id.startsWith(`${lane.pool}:`);
  const lv = await listAll(driver, 'Controller.ListVolumes', 'volume');
  const ls = lane.features.snapshots ? await listAll(driver, 'Controller.ListSnapshots', 'snapshot') : [];
  if (typeof lv === 'string' || typeof ls === 'string') {
    rep.unexpected.push({ seed: rep.seed, op: rep.ops, kind: 'list', what: String(typeof lv === 'string' ? lv : ls) });
    return;
  }
  const listedV = new Set(lv.filter(inPool).map(volName));
  const listedS = new Set(ls.filter(inPool).map(snapKey));
  rep.listedNotBelieved.push(...[...listedV].filter((v) => !vols.has(v)).map((v) => `volume ${v}`), ...[...listedS].filter((s) => !snaps.has(s)).map((s) => `snapshot ${s}`));
  rep.believedNotListed.push(...[...vols].filter((v) => !listedV.has(v)).map((v) => `volume ${v}`), ...[...snaps].filter((s) => !listedS.has(s)).map((s) => `snapshot ${s}`));
}

/** Mount points at or under `dir` (from this process's mountinfo). */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

type Send = (method: string, req: Record<string, unknown>, mayKill?: boolean) => Promise<Outcome>;

/** NodeStage and NodeUnstage with the driver killed mid-call; the retry must end staged (unstaged). */
async function stageRounds(lane: Lane, driver: DriverProcess, rep: CrashReport, rng: Rng, rounds: number, send: Send,
  createReq: (req: string, size: number) => Record<string, unknown>, log: (s: string) => void): Promise<void> {
  const root = lane.stagingRoot ?? '/tmp/poolcsi-rel-stage';
  const finding = (kind: string, what: string) => { rep.stageFindings.push({ seed: rep.seed, op: rep.stageRounds, kind, what }); log(`  ! stage round ${rep.stageRounds} ${kind}: ${what}`); };
  const c = await send('Controller.CreateVolume', createReq(`rel-${rep.seed}-stage`, lane.sizesMiB[0]!), false);
  if (!c.ok) { finding('create', `${c.code} ${c.details}`); return; }
  const vol = c.response.volume;
  const name = volName(vol.volume_id);
  const secrets = lane.secrets ? { secrets: lane.secrets } : {};
  // As a CO attaches before it stages (not killed here: the crash run kills publishes).
  let publishContext: Record<string, string> = {};
  if (lane.features.stagePublish) {
    const p = await send('Controller.ControllerPublishVolume', {
      volume_id: vol.volume_id, node_id: lane.nodeId, volume_capability: lane.capability, readonly: false, ...secrets,
    }, false);
    if (!p.ok) { finding('publish', `${p.code} ${p.details}`); return; }
    publishContext = (p.response.publish_context as Record<string, string> | undefined) ?? {};
  }
  for (let i = 0; i < rounds; i++) {
    rep.stageRounds++;
    const staging = join(root, `${rep.seed}-${i}`);
    mkdirSync(staging, { recursive: true });
    const stageReq = {
      volume_id: vol.volume_id, staging_target_path: staging, volume_capability: lane.capability,
      volume_context: vol.volume_context ?? {}, publish_context: publishContext, ...secrets,
    };
    const s = await sendKilled(driver, lane, rng, 'Node.NodeStageVolume', stageReq, rep);
    if (!s.ok) finding('stage', `${s.code} ${s.details}`);
    const m = mountsUnder(staging);
    if (m.length !== 1) finding('stage', `after the retry ${m.length} mounts under ${staging}: ${m.join(', ')}`);
    const again = await driver.client.call('Node.NodeStageVolume', stageReq, lane.callTimeoutMs);
    if (!again.ok) finding('stage', `staging again: ${again.code} ${again.details}`);
    if (mountsUnder(staging).length !== m.length) finding('stage', 'staging again changed the mounts');
    const u = await sendKilled(driver, lane, rng, 'Node.NodeUnstageVolume', { volume_id: vol.volume_id, staging_target_path: staging }, rep);
    if (!u.ok) finding('unstage', `${u.code} ${u.details}`);
    const left = mountsUnder(staging);
    if (left.length) finding('unstage', `after the retry still mounted: ${left.join(', ')}`);
    const dev = lane.truth.attached ? await lane.truth.attached(name) : [];
    if (dev.length) finding('unstage', `device left attached: ${dev.join(', ')}`);
  }
  if (lane.features.stagePublish) {
    const u = await send('Controller.ControllerUnpublishVolume', { volume_id: vol.volume_id, node_id: lane.nodeId, ...secrets }, false);
    if (!u.ok) finding('unpublish', `${u.code} ${u.details}`);
  }
  const d = await send('Controller.DeleteVolume', { volume_id: vol.volume_id, ...secrets }, false);
  if (!d.ok) finding('delete', `${d.code} ${d.details}`);
}

async function sendKilled(driver: DriverProcess, lane: Lane, rng: Rng, method: string, req: Record<string, unknown>, rep: CrashReport): Promise<Outcome> {
  const delay = Math.floor(rng.next() * lane.killWindowMs);
  let killing: Promise<void> | undefined;
  const timer = setTimeout(() => { killing = driver.kill(); }, delay);
  let r = await driver.client.call(method, req, lane.callTimeoutMs);
  clearTimeout(timer);
  if (killing) { await killing; await driver.start(); }
  for (let i = 0; RETRYABLE.has(r.code) && i < 50; i++) {
    rep.retries++;
    r = await driver.client.call(method, req, lane.callTimeoutMs);
  }
  return r;
}
