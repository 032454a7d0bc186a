// What the rbd lab tests share: the cluster's key (read in the node, handed on only through
// files and stdin), a ceph-mgr (GetCapacity reads pool statistics from it), the pool and
// secret files, and a strict CSI call.
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { LabError, pollUntil, type LabNode, type NodeDriver } from './harness/index.js';

/** The admin key of the lab cluster (service ceph / ceph-client). */
export async function cephKey(node: LabNode): Promise<string> {
  return (await node.run(['ceph', 'auth', 'print-key', 'client.admin'])).stdout.trim();
}

/** Writes a file inside the node through stdin (never through argv), mode 0600. */
export async function writeIn(node: LabNode, path: string, content: string): Promise<void> {
  await node.run(['sh', '-c', 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', path], { input: content });
}

/** Starts a ceph-mgr on the ceph node and waits until `ceph df` reports pool rbd. */
export async function startMgr(node: LabNode, timeoutMs = 240_000): Promise<void> {
  await node.run(['sh', '-c', [
    'mkdir -p /var/lib/ceph/mgr/ceph-x',
    'ceph auth get-or-create mgr.x mon "allow profile mgr" osd "allow *" mds "allow *" > /var/lib/ceph/mgr/ceph-x/keyring',
    'ceph-mgr -i x --log-file "$LAB_LOG_DIR/ceph-mgr.x.log"',
  ].join(' && ')]);
  await pollUntil(async () => ((await node.exec(['ceph', 'df', '--format', 'json'])).stdout.includes('"name":"rbd"') ? true : undefined), {
    timeoutMs, what: 'ceph-mgr to report pool statistics', intervalMs: 1000,
  });
}

/** csi-sanity's --csi.secrets file: the same cephx user for every call type that has secrets. */
export function sanitySecrets(key: string): string {
  const kinds = ['CreateVolumeSecret', 'DeleteVolumeSecret', 'ControllerPublishVolumeSecret', 'ControllerUnpublishVolumeSecret',
    'ControllerValidateVolumeCapabilitiesSecret', 'NodeStageVolumeSecret', 'NodePublishVolumeSecret', 'CreateSnapshotSecret',
    'DeleteSnapshotSecret', 'ControllerExpandVolumeSecret', 'ListSnapshotsSecret'];
  return kinds.map((k) => `${k}:\n  userID: admin\n  userKey: ${JSON.stringify(key)}\n`).join('');
}

/** The pool's secretRef poolcsi/ceph-client as a directory (serve --secrets-dir). */
export async function writeSecretDir(node: LabNode, dir: string, key: string): Promise<void> {
  await writeIn(node, join(dir, 'poolcsi', 'ceph-client', 'userID'), 'admin');
  await writeIn(node, join(dir, 'poolcsi', 'ceph-client', 'userKey'), key);
}

export function rbdPoolYaml(o: { id?: string; monhost: string; extra?: string }): string {
  return `pools:\n  - id: ${o.id ?? 'ceph'}\n    type: rbd\n    monhost: [${o.monhost}]\n    pool: rbd\n    secretRef: {name: ceph-client, namespace: poolcsi}\n${o.extra ?? ''}`;
}

/** A CSI call that must succeed; its response. */
export async function must(d: NodeDriver, method: string, request: object): Promise<any> {
  const r = await d.call(method, request);
  if (!r.ok) throw new LabError(`${method} failed: ${status[r.code]}: ${r.details}`);
  return r.response;
}

/**
 * A call that must succeed, retried on UNAVAILABLE as the CO retries: a first mount of an NFS
 * export or a first SSH connection on a loaded host can outlast a pool's timeout.
 */
export async function settled(d: NodeDriver, method: string, request: object): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const r = await d.call(method, request);
    if (r.ok) return r.response;
    if (r.code !== status.UNAVAILABLE || attempt === 5) throw new LabError(`${method}: ${status[r.code]}: ${r.details}`);
  }
}

/** A CSI call that must fail; its code name, message and duration (csi-call start included). */
export async function refused(d: NodeDriver, method: string, request: object): Promise<{ code: string; details: string; ms: number }> {
  const started = Date.now();
  const r = await d.call(method, request);
  const ms = Date.now() - started;
  if (r.ok) throw new LabError(`${method} succeeded; a failure was expected`);
  return { code: status[r.code] ?? String(r.code), details: r.details, ms };
}

export const BLOCK_RWX = { access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, block: {} };
