// `iscsi-luns` against a real LIO target whose LUNs exist before the driver starts, with a real
// Kubernetes API server (service kube-apiserver) holding the LUN claims, in one lab node that is
// target, API server, controller and node. The target requires mutual CHAP of the controller
// (the pool's secretRef, from --secrets-dir) and of the node (csi-sanity's node-stage secret).
//   1. csi-sanity, mount and block: 0 failures.
//   2. scenarios on the same kind of node: data written through a volume is zeroed on the
//      target by DeleteVolume; two controllers creating at once never share a LUN; the claims
//      (Leases) are the only state, so a new driver process sees every volume; a LUN remapped
//      under a volume is refused at NodeStage; the controller's password is in no log.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { initiatorIqnFor } from '../../src/node/transports/iscsi-names.js';
import { ensureKubeApiserver, KUBE_NAMESPACE, KUBECONFIG_IN_NODE, runSanity, startLab, type LabNode } from './harness/index.js';
import { startDriver } from './harness/driver.js';
import { attempt, blockCap, createReq, must } from './lvm/setup.js';
import { writeIn } from './rbd-support.js';
import { checkSanity } from '../sanity/check.js';
import { typeSkipArg } from '../sanity/skips.js';

const TARGET = 'iqn.2003-01.org.example.lab:luns';
const CONTROLLER_IQN = 'iqn.2026-12.io.poolcsi:controller';
const LUN_MIB = 16;
const SECRETS_DIR = '/run/lab/luns/secrets';
const SECRETS_FILE = '/run/lab/luns/sanity-secrets.yaml';
const CHAP = {
  'node.session.auth.username': 'luns-initiator', 'node.session.auth.password': 'Luns-Chap-0123456789',
  'node.session.auth.username_in': 'luns-target', 'node.session.auth.password_in': 'Luns-Mutual-9876543210',
};

/** `count` LUNs of LUN_MIB MiB (fileio, sparse files) on one target; ACLs with mutual CHAP for
 * the controller and `nodes`. One targetcli reads every command from stdin (a start costs
 * seconds in UML), so the passwords are in no argv. */
export async function makeLuns(node: LabNode, count: number, nodes: string[]): Promise<void> {
  await node.run(['sh', '-c', `mkdir -p /srv/luns && for i in $(seq 0 ${count - 1}); do truncate -s ${LUN_MIB}M /srv/luns/l$i.img; done`]);
  const tpg = `/iscsi/${TARGET}/tpg1`;
  const commands = [
    `/iscsi create ${TARGET}`,
    `${tpg} set attribute authentication=1`,
    ...Array.from({ length: count }, (_, i) => [
      `/backstores/fileio create name=l${i} file_or_dev=/srv/luns/l${i}.img`,
      `${tpg}/luns create /backstores/fileio/l${i} lun=${i} add_mapped_luns=false`,
    ]).flat(),
    ...[CONTROLLER_IQN, ...nodes.map(initiatorIqnFor)].map((iqn) => [
      `${tpg}/acls create ${iqn} add_mapped_luns=true`,
      `${tpg}/acls/${iqn} set auth userid=${CHAP['node.session.auth.username']} password=${CHAP['node.session.auth.password']} mutual_userid=${CHAP['node.session.auth.username_in']} mutual_password=${CHAP['node.session.auth.password_in']}`,
    ]).flat(),
    'exit',
  ];
  await node.run(['targetcli'], { input: `${commands.join('\n')}\n`, timeoutMs: 180_000 });
  const luns = (await node.run(['sh', '-c', `ls /sys/kernel/config/target/iscsi/${TARGET}/tpgt_1/lun | wc -l`])).stdout.trim();
  assert.equal(luns, String(count), 'every LUN made');
}

export function lunsPool(id = 'luns'): object {
  return {
    id, type: 'iscsi-luns', portals: ['127.0.0.1:3260'], target: TARGET,
    chap: { secretRef: { name: 'luns-chap', namespace: 'storage' } },
  };
}

export async function writeControllerSecret(node: LabNode): Promise<void> {
  for (const [k, v] of Object.entries(CHAP)) await writeIn(node, `${SECRETS_DIR}/storage/luns-chap/${k}`, v);
}

export const DRIVER_ENV = { KUBECONFIG: KUBECONFIG_IN_NODE, POOLCSI_NAMESPACE: KUBE_NAMESPACE };

// Both modes: each takes about 30 s of csi-sanity here (a LUN needs no making).
const MODES: Array<'mount' | 'block'> = ['mount', 'block'];

test(`csi-sanity passes against an iscsi-luns pool (pre-made LUNs on LIO with mutual CHAP, claims in a real API server) (${MODES.join(' and ')})`, {
  timeout: 60 * 60_000,
}, async (t: TestContext) => {
  await ensureKubeApiserver();
  const nodeId = 'sanity-luns';
  const result = await runSanity({
    name: nodeId,
    services: ['lvm', 'iscsi-target', 'iscsi-initiator', 'kube-apiserver'],
    nodeId,
    memMiB: 2048,
    poolsYaml: JSON.stringify({ pools: [lunsPool()] }),
    prepare: async (node) => {
      await makeLuns(node, 12, [nodeId]);
      await writeControllerSecret(node);
      await writeIn(node, SECRETS_FILE, JSON.stringify({
        CreateVolumeSecret: CHAP, DeleteVolumeSecret: CHAP, ControllerPublishVolumeSecret: CHAP, NodeStageVolumeSecret: CHAP,
      }));
    },
    driverEnv: DRIVER_ENV,
    driverArgs: ['--secrets-dir', SECRETS_DIR],
    volumeParameters: { pool: 'luns' },
    sanityArgs: [`--csi.testvolumesize=${LUN_MIB << 20}`, `--csi.secrets=${SECRETS_FILE}`, ...typeSkipArg('iscsi-luns')],
    modes: MODES,
    timeoutMs: 40 * 60_000,
  });
  for (const line of result.timings) t.diagnostic(line);
  for (const r of result.modes) checkSanity(t, 'iscsi-luns', r, result.driverLog, 50, 'iscsi-luns');
  const log = readFileSync(result.driverLog, 'utf8');
  assert.match(log, /CreateVolume/, 'the driver log records the calls (else the next check proves nothing)');
  for (const secret of [CHAP['node.session.auth.password'], CHAP['node.session.auth.password_in']]) assert.equal(log.includes(secret), false, 'a CHAP password is in the driver log');
  for (const r of result.modes) process.stdout.write(`SANITY iscsi-luns/${r.mode}: ${r.summary}\n`);
});

test('iscsi-luns scenarios: two controllers never share a LUN; the claims are the state; DeleteVolume zeroes the LUN; a remapped LUN is refused at NodeStage', {
  timeout: 20 * 60_000,
}, async (t: TestContext) => {
  await ensureKubeApiserver();
  const NODE = 'luns';
  const lab = await startLab({ name: 'iscsi-luns', nodes: [{ name: NODE, services: ['lvm', 'iscsi-target', 'iscsi-initiator', 'kube-apiserver'], memMiB: 2048 }] });
  try {
    const node = lab.node(NODE);
    await makeLuns(node, 4, [NODE]);
    await writeControllerSecret(node);
    const poolsFile = join(node.runDir, 'pools.yaml');
    writeFileSync(poolsFile, JSON.stringify({ pools: [lunsPool()] }));
    const common = { nodeId: NODE, poolsFile, env: DRIVER_ENV, args: ['--secrets-dir', SECRETS_DIR] };
    let d1 = await startDriver(node, common);
    const d2 = await startDriver(node, { ...common, mode: 'controller', socket: '/run/lab/csi/c2.sock', logName: 'driver2.log' });
    const req = (name: string) => createReq(name, 'luns', LUN_MIB << 20, { volume_capabilities: [blockCap], secrets: CHAP });
    const lunOf = (r: any) => `${r.volume.volume_context['iscsi.lun']} ${r.volume.volume_context['iscsi.wwid']}`;

    // Four creates at once, two per controller, for the four LUNs: four different LUNs.
    const four = await Promise.all([must(d1, 'Controller.CreateVolume', req('v1')), must(d2, 'Controller.CreateVolume', req('v2')),
      must(d1, 'Controller.CreateVolume', req('v3')), must(d2, 'Controller.CreateVolume', req('v4'))]);
    assert.equal(new Set(four.map(lunOf)).size, 4, `four LUNs: ${four.map(lunOf).join(', ')}`);
    const fifth = await attempt(d1, 'Controller.CreateVolume', req('v5'));
    assert.equal(fifth.ok ? 'OK' : fifth.code, 'RESOURCE_EXHAUSTED');

    // One name at once on both controllers: one LUN, the same answer.
    await must(d1, 'Controller.DeleteVolume', { volume_id: four[2].volume.volume_id, secrets: CHAP });
    await must(d2, 'Controller.DeleteVolume', { volume_id: four[3].volume.volume_id, secrets: CHAP });
    const same = await Promise.all([must(d1, 'Controller.CreateVolume', req('same')), must(d2, 'Controller.CreateVolume', req('same'))]);
    assert.equal(lunOf(same[0]), lunOf(same[1]));
    const cap = await must(d1, 'Controller.GetCapacity', { parameters: { pool: 'luns' }, volume_capabilities: [blockCap] });
    assert.equal(Number(cap.available_capacity), LUN_MIB << 20, 'one LUN left free: the racing create gave back what it claimed');

    // Data through the volume, then DeleteVolume: the LUN's backing file holds zeros only.
    const v1 = four[0].volume;
    const file = `/srv/luns/l${v1.volume_context['iscsi.lun']}.img`;
    const staging = '/run/lab/k/v1/staging', dev = '/run/lab/k/v1/dev';
    await node.run(['mkdir', '-p', staging]);
    const pub = await must(d1, 'Controller.ControllerPublishVolume', { volume_id: v1.volume_id, node_id: NODE, volume_capability: blockCap, readonly: false, volume_context: v1.volume_context, secrets: CHAP });
    await must(d1, 'Node.NodeStageVolume', { volume_id: v1.volume_id, staging_target_path: staging, volume_capability: blockCap, volume_context: v1.volume_context, publish_context: pub.publish_context, secrets: CHAP });
    await must(d1, 'Node.NodePublishVolume', { volume_id: v1.volume_id, staging_target_path: staging, target_path: dev, volume_capability: blockCap, publish_context: pub.publish_context });
    await node.run(['sh', '-c', 'yes POOLCSI-LUN-DATA | head -c 4194304 | dd of="$1" bs=1M oflag=direct status=none', 'sh', dev]);
    assert.ok(Number((await node.run(['sh', '-c', 'grep -c POOLCSI-LUN-DATA "$1" || true', 'sh', file])).stdout.trim()) > 0, 'the data reached the LUN (else the wipe check proves nothing)');
    const busy = await attempt(d1, 'Controller.DeleteVolume', { volume_id: v1.volume_id, secrets: CHAP });
    assert.equal(busy.ok ? 'OK' : busy.code, 'FAILED_PRECONDITION', 'a published volume is not deleted');
    await must(d1, 'Node.NodeUnpublishVolume', { volume_id: v1.volume_id, target_path: dev });
    await must(d1, 'Node.NodeUnstageVolume', { volume_id: v1.volume_id, staging_target_path: staging });
    await must(d1, 'Controller.ControllerUnpublishVolume', { volume_id: v1.volume_id, node_id: NODE });
    const del = await attempt(d1, 'Controller.DeleteVolume', { volume_id: v1.volume_id, secrets: CHAP });
    assert.ok(del.ok, `delete: ${del.ok ? '' : del.details}`);
    t.diagnostic(`DeleteVolume with the ${LUN_MIB} MiB zeroing: ${del.ms} ms`);
    await node.run(['cmp', '-n', String(LUN_MIB << 20), file, '/dev/zero']);

    // A new controller process knows every volume: the Leases are the only state.
    await d1.stop();
    await d2.stop();
    d1 = await startDriver(node, common);
    const listed = await must(d1, 'Controller.ListVolumes', {});
    assert.deepEqual(listed.entries.map((e: any) => e.volume.volume_id).sort(), [four[1].volume.volume_id, same[0].volume.volume_id].sort());

    // What the type cannot do is refused as such (csi-sanity's specs for it are skipped: test/sanity/skips.ts).
    const v2id = four[1].volume.volume_id;
    const refusals = [
      await attempt(d1, 'Controller.CreateSnapshot', { source_volume_id: v2id, name: 'snap-1' }),
      await attempt(d1, 'Controller.CreateVolume', { ...req('clone-1'), volume_content_source: { volume: { volume_id: v2id } } }),
      await attempt(d1, 'Controller.ControllerExpandVolume', { volume_id: v2id, capacity_range: { required_bytes: String(2 * (LUN_MIB << 20)) } }),
    ];
    assert.deepEqual(refusals.map((r) => (r.ok ? 'OK' : r.code)), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);

    // Two volumes are two LUNs of one target, so one session: unstaging one keeps the session for
    // the other (the session holds only the LUNs staged: records scan manually), the last logs out.
    const sessions = async () => (await node.exec(['sh', '-c', 'ls /sys/class/iscsi_session 2>/dev/null | wc -l'])).stdout.trim();
    const v2 = four[1].volume, vs = same[0].volume;
    const staged: Array<{ v: any; st: string; dv: string }> = [];
    for (const [tag, v] of [['v2', v2], ['same', vs]] as const) {
      const st = `/run/lab/k/${tag}/staging`, dv = `/run/lab/k/${tag}/dev`;
      await node.run(['mkdir', '-p', st]);
      const p = await must(d1, 'Controller.ControllerPublishVolume', { volume_id: v.volume_id, node_id: NODE, volume_capability: blockCap, readonly: false, volume_context: v.volume_context, secrets: CHAP });
      await must(d1, 'Node.NodeStageVolume', { volume_id: v.volume_id, staging_target_path: st, volume_capability: blockCap, volume_context: v.volume_context, publish_context: p.publish_context, secrets: CHAP });
      await must(d1, 'Node.NodePublishVolume', { volume_id: v.volume_id, staging_target_path: st, target_path: dv, volume_capability: blockCap, publish_context: p.publish_context });
      staged.push({ v, st, dv });
    }
    assert.equal(await sessions(), '1', 'one session to the target for both volumes');
    assert.equal((await node.run(['sh', '-c', 'ls /sys/class/iscsi_session/session*/device/target*/ | grep -c "^[0-9]*:[0-9]*:[0-9]*:[0-9]*$"'])).stdout.trim(), '2', 'the session carries the two staged LUNs only');
    const unstage = async ({ v, st, dv }: (typeof staged)[number]) => {
      await must(d1, 'Node.NodeUnpublishVolume', { volume_id: v.volume_id, target_path: dv });
      await must(d1, 'Node.NodeUnstageVolume', { volume_id: v.volume_id, staging_target_path: st });
      await must(d1, 'Controller.ControllerUnpublishVolume', { volume_id: v.volume_id, node_id: NODE });
    };
    await unstage(staged[0]!);
    assert.equal(await sessions(), '1', 'the other volume keeps the session');
    await node.run(['dd', `if=${staged[1]!.dv}`, 'of=/dev/null', 'bs=1M', 'count=1', 'iflag=direct', 'status=none']);
    await unstage(staged[1]!);
    assert.equal(await sessions(), '0', 'the last unstage logs out');

    // The admin maps another LUN at v2's number: NodeStage refuses it rather than use someone else's data.
    const n = v2.volume_context['iscsi.lun'];
    await node.run(['sh', '-c', `truncate -s ${LUN_MIB}M /srv/luns/other.img`]);
    await node.run(['targetcli'], { input: [
      `/iscsi/${TARGET}/tpg1/luns delete lun=${n}`,
      '/backstores/fileio create name=other file_or_dev=/srv/luns/other.img',
      `/iscsi/${TARGET}/tpg1/luns create /backstores/fileio/other lun=${n}`,
      'exit', ''].join('\n'), timeoutMs: 120_000 });
    await node.run(['mkdir', '-p', '/run/lab/k/v2/staging']);
    const pub2 = await must(d1, 'Controller.ControllerPublishVolume', { volume_id: v2.volume_id, node_id: NODE, volume_capability: blockCap, readonly: false, volume_context: v2.volume_context, secrets: CHAP });
    const stage = await attempt(d1, 'Node.NodeStageVolume', { volume_id: v2.volume_id, staging_target_path: '/run/lab/k/v2/staging', volume_capability: blockCap, volume_context: v2.volume_context, publish_context: pub2.publish_context, secrets: CHAP });
    assert.equal(stage.ok ? 'OK' : stage.code, 'FAILED_PRECONDITION');
    assert.match(stage.ok ? '' : stage.details ?? '', /remapped/);

    for (const f of [d1.logFile, join(dirname(d1.logFile), 'driver2.log')]) {
      const log = readFileSync(f, 'utf8');
      for (const secret of [CHAP['node.session.auth.password'], CHAP['node.session.auth.password_in']]) assert.equal(log.includes(secret), false, `a CHAP password is in ${f}`);
    }
  } finally {
    await lab.close();
  }
});
