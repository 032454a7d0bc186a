// Outage of a remote dependency, run where the driver runs (a lab node):
//   node dist/test/reliability/outage.js --type rbd --down '["pkill","-x","ceph-mon"]' --up '["ceph-mon","-i","a"]'
//     --ready '["ceph","health","--connect-timeout","5"]' --timeout-seconds 5 --json FILE
//   node dist/test/reliability/outage.js --type nfs --down '["rpc.nfsd","0"]' --up '["rpc.nfsd","8"]'
//     --ready '["rpcinfo","-t","127.0.0.1","nfs","4"]' --timeout-seconds 5 --json FILE
//   node dist/test/reliability/outage.js --type iscsi-ssh --ssh-key FILE --ssh-host-key 'ssh-ed25519 AAAA...'
//     --down '["pkill","-STOP","-x","sshd"]' --up '["pkill","-CONT","-x","sshd"]' --ready '["true"]' ...
// (rbd: the Ceph monitors; nfs: the NFS server's nfsd, the node being its own server; iscsi-ssh:
// the storage host reached over SSH, here this node through 127.0.0.1, its sshd frozen.)
// At rest (dependency down, nothing in flight) and mid-operation (taken down while calls run):
// every call must answer UNAVAILABLE or DEADLINE_EXCEEDED within the pool's timeout; a dir pool
// served by the same driver must keep answering meanwhile; once the dependency is back, calls
// succeed again with no driver restart.
import { execFileSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { waitFor } from '../../src/exec/wait.js';
import { MiB } from './core/lane.js';
import { nfsLane } from './lanes/nfs.js';
import { rbdLane } from './lanes/rbd.js';
import { iscsiLane } from './lanes/iscsi.js';
import type { Outcome } from './core/csi.js';

const { values: a } = parseArgs({ options: {
  type: { type: 'string', default: 'rbd' }, down: { type: 'string' }, up: { type: 'string' }, ready: { type: 'string' },
  'timeout-seconds': { type: 'string', default: '5' }, json: { type: 'string' }, monhost: { type: 'string', default: '127.0.0.1:6789' },
  export: { type: 'string', default: '/srv/nfs' },
  vg: { type: 'string', default: 'labvg' }, thinpool: { type: 'string', default: 'thin' },
  'ssh-key': { type: 'string' }, 'ssh-host-key': { type: 'string' },
  /** Where the driver's log is copied at the end (a lab node's logs folder, kept after teardown). */
  'driver-log': { type: 'string' },
} });
const argv = (s: string | undefined) => JSON.parse(s ?? '[]') as string[];
const run = (cmd: string[]) => execFileSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore', timeout: 60_000 });
const timeoutS = Number(a['timeout-seconds']);
const log = (s: string) => process.stderr.write(`${s}\n`);

const s = a.type === 'rbd' ? await rbdLane({ pool: 'rbd', monhost: a.monhost!, nodeId: 'rel-node', timeoutSeconds: timeoutS })
  : a.type === 'nfs' ? await nfsLane({ exportPath: a.export!, nodeId: 'rel-node', timeoutSeconds: timeoutS })
  : a.type === 'iscsi-ssh' ? await iscsiLane({
    vg: a.vg!, thinpool: a.thinpool!, nodeId: 'rel-node',
    ssh: { keyFile: a['ssh-key']!, hostKey: a['ssh-host-key']!, timeoutSeconds: timeoutS },
  })
  : undefined;
if (!s) throw new Error(`no outage lane for ${a.type} yet`);
/** The pool whose dependency goes away; 'local' (a dir pool) is the other pool of the same driver. */
const POOL = s.lane.pool;
const what = a.type === 'rbd' ? 'rbd monitors down' : a.type === 'nfs' ? 'nfs server down' : 'storage host silent (ssh)';
const d = s.driver;
await d.start();
const c = d.client;
const cap = s.lane.capability;
/** The dir pool is node-local: one node's writer, whatever the lane's pool is asked for. */
const LOCAL_CAP = { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const create = (pool: string, name: string) => c.call('Controller.CreateVolume', {
  name, capacity_range: { required_bytes: String(8 * MiB) }, volume_capabilities: [pool === 'local' ? LOCAL_CAP : cap], parameters: { pool },
}, 120_000);

interface Row { phase: string; rpc: string; code: string; ms: number }
const rows: Row[] = [];
const problems: string[] = [];
const bound = timeoutS * 1000 + 2000;
const record = (phase: string, rpc: string, r: Outcome, expectDown: boolean) => {
  rows.push({ phase, rpc, code: r.code, ms: r.ms });
  log(`${phase} ${rpc}: ${r.code} in ${r.ms} ms${r.ok ? '' : ` (${r.details.slice(0, 120)})`}`);
  if (expectDown) {
    // ABORTED: another of these calls holds the same volume's lock (the harness sends delete,
    // snapshot and expand of one volume at once); a CO retries it like UNAVAILABLE.
    const busy = r.code === 'ABORTED' && /already in progress/.test(r.details);
    if (r.code !== 'UNAVAILABLE' && r.code !== 'DEADLINE_EXCEEDED' && !busy) problems.push(`${phase} ${rpc}: ${r.code} (${r.details.slice(0, 200)}), expected UNAVAILABLE or DEADLINE_EXCEEDED`);
    if (r.ms > bound) problems.push(`${phase} ${rpc}: answered after ${r.ms} ms, the pool's timeout is ${timeoutS} s`);
  } else if (!r.ok) problems.push(`${phase} ${rpc}: ${r.code} ${r.details.slice(0, 200)}`);
};

// Before: a volume and a snapshot to act on.
const v = await create(POOL, 'rel-out-a');
record('before', 'CreateVolume', v, false);
const vid = v.response?.volume?.volume_id as string;
const sn = await c.call('Controller.CreateSnapshot', { name: 'rel-out-snap', source_volume_id: vid }, 120_000);
record('before', 'CreateSnapshot', sn, false);

const downCalls = async (phase: string) => {
  const calls: Array<[string, Promise<Outcome>]> = [
    ['CreateVolume', create(POOL, `rel-out-${phase}`)],
    ['DeleteVolume', c.call('Controller.DeleteVolume', { volume_id: vid }, 120_000)],
    ['CreateSnapshot', c.call('Controller.CreateSnapshot', { name: `rel-out-${phase}-snap`, source_volume_id: vid }, 120_000)],
    ['ControllerExpandVolume', c.call('Controller.ControllerExpandVolume', { volume_id: vid, capacity_range: { required_bytes: String(16 * MiB) }, volume_capability: cap }, 120_000)],
    ['GetCapacity', c.call('Controller.GetCapacity', { parameters: { pool: POOL } }, 120_000)],
    ['ListVolumes', c.call('Controller.ListVolumes', {}, 120_000)],
  ];
  // Another pool of the same driver, while those are in flight.
  const t0 = Date.now();
  const other = await create('local', `rel-out-dir-${phase}`);
  record(phase, 'CreateVolume (dir pool, meanwhile)', other, false);
  if (other.ok) record(phase, 'DeleteVolume (dir pool, meanwhile)', await c.call('Controller.DeleteVolume', { volume_id: other.response.volume.volume_id }), false);
  if (Date.now() - t0 > 5000) problems.push(`${phase}: the dir pool took ${Date.now() - t0} ms while ${a.type} was down`);
  for (const [rpc, p] of calls) {
    const r = await p;
    // ListVolumes lists every pool: it may answer from the others, or say UNAVAILABLE; never hang.
    if (rpc === 'ListVolumes') { rows.push({ phase, rpc, code: r.code, ms: r.ms }); log(`${phase} ${rpc}: ${r.code} in ${r.ms} ms`); if (r.ms > bound) problems.push(`${phase} ListVolumes after ${r.ms} ms`); continue; }
    record(phase, rpc, r, true);
  }
};

// At rest: down first, then the calls.
run(argv(a.down));
await downCalls('at-rest');
run(argv(a.up));
await waitFor(() => { try { run(argv(a.ready)); return true; } catch { return undefined; } }, { timeoutMs: 120_000, what: 'the dependency back' });
const back1 = await waitFor(async () => { const r = await create(POOL, 'rel-out-back1'); return r.ok ? r : undefined; }, { timeoutMs: 120_000, what: 'CreateVolume to succeed again' });
record('back', 'CreateVolume', back1, false);

// Mid-operation: calls in flight, then the dependency goes.
const inflight = [create(POOL, 'rel-out-mid'), c.call('Controller.DeleteVolume', { volume_id: back1.response.volume.volume_id }, 120_000)];
run(argv(a.down));
const t1 = Date.now();
for (const [i, p] of inflight.entries()) {
  const r = await p;
  rows.push({ phase: 'mid-operation', rpc: i === 0 ? 'CreateVolume' : 'DeleteVolume', code: r.code, ms: r.ms });
  log(`mid-operation ${i === 0 ? 'CreateVolume' : 'DeleteVolume'}: ${r.code} in ${r.ms} ms`);
  // Finished before the outage bit, or answered unavailable in bounded time after it.
  if (!r.ok && r.code !== 'UNAVAILABLE' && r.code !== 'DEADLINE_EXCEEDED') problems.push(`mid-operation: ${r.code} ${r.details.slice(0, 200)}`);
  if (Date.now() - t1 > bound) problems.push(`mid-operation: answered ${Date.now() - t1} ms after the outage began`);
}
await downCalls('mid-down');
run(argv(a.up));
await waitFor(() => { try { run(argv(a.ready)); return true; } catch { return undefined; } }, { timeoutMs: 120_000, what: 'the dependency back' });
const back2 = await waitFor(async () => { const r = await create(POOL, 'rel-out-back2'); return r.ok ? r : undefined; }, { timeoutMs: 120_000, what: 'CreateVolume to succeed again' });
record('back', 'CreateVolume', back2, false);
if (d.starts !== 1 || d.crashes.length) problems.push(`the driver restarted or crashed: ${d.starts} starts, ${d.crashes.join('; ')}`);

// Clean up as a CO would (retries while the dependency settles), with the ids the driver gave.
const snapId = sn.response?.snapshot?.snapshot_id as string | undefined;
if (snapId) await c.call('Controller.DeleteSnapshot', { snapshot_id: snapId });
const listed = await c.call('Controller.ListVolumes', {}, 120_000);
const ids = new Set<string>([vid, ...((listed.response?.entries ?? []) as Array<{ volume: { volume_id: string } }>).map((e) => e.volume.volume_id)]);
// Volumes whose create answered UNAVAILABLE may exist half-made: deleted by name as well (a
// volume id is the pool's id and the name, as vid shows).
if (vid?.endsWith('rel-out-a')) for (const n of ['at-rest', 'mid', 'mid-down', 'back1', 'back2']) ids.add(vid.replace(/rel-out-a$/, `rel-out-${n}`));
for (const id of ids) if (id.includes('rel-out-')) await c.call('Controller.DeleteVolume', { volume_id: id }, 120_000);
await d.stop();
if (a['driver-log']) copyFileSync(d.o.logFile, a['driver-log']);
const worst = Math.max(0, ...rows.filter((r) => r.phase !== 'before' && r.phase !== 'back' && !r.rpc.includes('dir pool')).map((r) => r.ms));
if (a.json) writeFileSync(a.json, `${JSON.stringify({ rows, problems, worstMs: worst, timeoutSeconds: timeoutS }, null, 1)}\n`);
for (const p of problems) log(`PROBLEM ${p}`);
log(`${what}: ${rows.length} calls, worst answer ${worst} ms (timeout ${timeoutS} s), ${problems.length} problems`);
process.exitCode = problems.length ? 1 : 0;
