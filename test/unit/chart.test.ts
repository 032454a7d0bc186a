// The Helm chart (charts/poolcsi), rendered with the pinned helm from scripts/install-helm.sh:
// lint, default and all-pool-types renders, socket paths, RBAC against each sidecar's
// documented needs, the values schema generated from the driver's pool schema, the template
// guards, the agent certificates, and manifests/ and values.schema.json being up to date.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { POOL_TYPES } from '../../src/pools/schema.js';
import { parsePools } from '../../src/pools/validate.js';

type Obj = Record<string, any>;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = join(ROOT, 'charts/poolcsi');
const FIXTURE = join(ROOT, 'test/fixtures/chart/all-pools.values.yaml');
const NS = 'storage-system';

function helmPath(): string {
  if (process.env.HELM) return process.env.HELM;
  const script = readFileSync(join(ROOT, 'scripts/install-helm.sh'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(script)?.[1];
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(process.env.HELM_INSTALL_DIR || join(cache, `poolcsi/helm-${version}`), 'helm');
}
const HELM = helmPath();
const HELM_MISSING = `helm not found at ${HELM}: run scripts/install-helm.sh (or set HELM to a helm v3 binary)`;

const tmp = mkdtempSync(join(tmpdir(), 'poolcsi-chart-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
function valuesFile(values: Obj): string {
  const f = join(tmp, `values-${files++}.yaml`);
  writeFileSync(f, stringify(values, { version: '1.1' })); // Helm reads YAML 1.1: quote "off", "yes"...
  return f;
}

interface Run { status: number | null; stdout: string; stderr: string }
function helm(args: string[]): Run {
  assert.ok(existsSync(HELM), HELM_MISSING);
  const r = spawnSync(HELM, args, { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with values files/objects; returns the objects, or the failed run. */
function template(...values: Array<Obj | string>): Run & { objects: Obj[] } {
  const args = ['template', 'poolcsi', CHART, '--namespace', NS];
  for (const v of values) args.push('-f', typeof v === 'string' ? v : valuesFile(v));
  const r = helm(args);
  const objects = r.status === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter((o) => o?.kind) : [];
  return { ...r, objects };
}
function render(...values: Array<Obj | string>): Obj[] {
  const r = template(...values);
  assert.equal(r.status, 0, `helm template failed:\n${r.stderr}`);
  return r.objects;
}
function refused(values: Obj, pattern: RegExp): void {
  const r = template(values);
  assert.notEqual(r.status, 0, `helm template should have refused ${JSON.stringify(values)}`);
  assert.match(r.stderr, pattern);
}

const find = (objs: Obj[], kind: string, name?: string): Obj[] => objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
function one(objs: Obj[], kind: string, name?: string): Obj {
  const found = find(objs, kind, name);
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}
const podSpec = (o: Obj): Obj => (o.kind === 'Job' || o.kind === 'Deployment' || o.kind === 'DaemonSet' ? o.spec.template.spec : o.spec);
const containers = (o: Obj): Obj[] => [...(podSpec(o).initContainers ?? []), ...podSpec(o).containers];
function container(o: Obj, name: string): Obj {
  const c = containers(o).find((x) => x.name === name);
  assert.ok(c, `${o.kind} ${o.metadata.name} has no container ${name}`);
  return c;
}
/** Value of --flag=value (or presence of --flag → ''). */
function flag(c: Obj, name: string): string | undefined {
  for (const a of (c.args ?? []) as string[]) {
    if (a === `--${name}`) return '';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** The fixture reduced to the pool types the driver's schema knows (others are being written). */
function allPoolsValues(): Obj {
  const v = parseYaml(readFileSync(FIXTURE, 'utf8')) as Obj;
  v.pools = (v.pools as Obj[]).filter((p) => POOL_TYPES.includes(p.type));
  const ids = new Set((v.pools as Obj[]).map((p) => p.id));
  v.storageClasses = (v.storageClasses as Obj[]).filter((sc) => ids.has(sc.pool));
  if (!v.storageClasses.some((sc: Obj) => sc.default)) v.storageClasses[0].default = true;
  return v;
}

test('helm is installed (scripts/install-helm.sh)', () => {
  assert.ok(existsSync(HELM), HELM_MISSING);
  const r = helm(['version', '--template', '{{.Version}}']);
  assert.match(r.stdout, /^v3\./);
});

describe('chart renders', () => {
  test('helm lint passes with the default values and with every pool type', () => {
    for (const extra of [[], ['-f', valuesFile(allPoolsValues())]]) {
      const r = helm(['lint', '--strict', CHART, ...extra]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });

  test('the fixture has an example of every pool type the driver knows', () => {
    const v = parseYaml(readFileSync(FIXTURE, 'utf8')) as Obj;
    const types = new Set((v.pools as Obj[]).map((p) => p.type));
    for (const t of POOL_TYPES) assert.ok(types.has(t), `add a pool of type "${t}" (and a StorageClass) to ${FIXTURE}`);
    // and each of those examples is a pool the driver accepts
    parsePools(stringify({ pools: allPoolsValues().pools }));
  });

  test('every image is pinned by a tag, never latest', () => {
    for (const objs of [render(), render(allPoolsValues())]) {
      const workloads = objs.filter((o) => ['Deployment', 'DaemonSet', 'Job'].includes(o.kind));
      assert.ok(workloads.length >= 2);
      for (const w of workloads) {
        for (const c of containers(w)) {
          const m = /^([a-z0-9.-]+(?::\d+)?\/[a-z0-9./_-]+):([A-Za-z0-9_.-]+)$/.exec(c.image);
          assert.ok(m, `${w.metadata.name}/${c.name}: image "${c.image}" has no tag`);
          assert.notEqual(m[2], 'latest', `${w.metadata.name}/${c.name} uses latest`);
          if (m[1]!.startsWith('registry.k8s.io/')) assert.match(m[2]!, /^v\d+\.\d+\.\d+$/, `${c.image}: pin a release`);
        }
      }
    }
  });

  test('a values file may not float an image to latest', () => {
    refused({ sidecars: { provisioner: { image: { repository: 'registry.k8s.io/sig-storage/csi-provisioner', tag: 'latest' } } } }, /csi-provisioner: pin a released tag, not latest/);
  });

  test('the pools ConfigMap holds values.pools and the driver accepts it', () => {
    const v = allPoolsValues();
    const cm = one(render(v), 'ConfigMap', 'poolcsi-pools');
    const pools = parsePools(cm.data['pools.yaml']).pools;
    assert.deepEqual(pools.map((p) => p.id), (v.pools as Obj[]).map((p) => p.id));
    const serve = one(render(v), 'Deployment');
    assert.equal(flag(container(serve, 'poolcsi'), 'pools-configmap'), `${NS}/poolcsi-pools`);
  });

  test('CSIDriver poolcsi.io', () => {
    const d = one(render(), 'CSIDriver', 'poolcsi.io');
    assert.deepEqual(d.spec, {
      attachRequired: true, podInfoOnMount: true, fsGroupPolicy: 'File', storageCapacity: true,
      volumeLifecycleModes: ['Persistent'], requiresRepublish: false,
    });
  });
});

describe('sockets and paths', () => {
  /** Path of `p` as seen on the volume: [volume name, path within it]. */
  function onVolume(c: Obj, p: string): [string, string] {
    const mounts = (c.volumeMounts as Obj[]).filter((m) => p === m.mountPath || p.startsWith(`${m.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length);
    assert.ok(mounts[0], `${c.name}: ${p} is on no volume mount`);
    return [mounts[0].name, posix.relative(mounts[0].mountPath, p)];
  }
  const endpoint = (c: Obj): string => {
    const e = flag(c, 'endpoint');
    if (!e?.startsWith('unix:///')) assert.fail(`${c.name}: --endpoint ${e}`);
    return e.slice('unix://'.length);
  };

  for (const kubeletDir of ['/var/lib/kubelet', '/var/lib/k0s/kubelet']) {
    test(`driver, sidecars, registrar and kubelet agree on the socket (kubeletDir ${kubeletDir})`, () => {
      const objs = render({ kubeletDir });
      for (const w of [one(objs, 'Deployment'), one(objs, 'DaemonSet')]) {
        const driver = container(w, 'poolcsi');
        const sock = onVolume(driver, endpoint(driver));
        const sidecars = containers(w).filter((c) => c.name !== 'poolcsi');
        assert.ok(sidecars.length >= 2);
        for (const s of sidecars) {
          assert.deepEqual(onVolume(s, flag(s, 'csi-address') ?? ''), sock, `${w.kind}/${s.name} --csi-address`);
        }
        if (w.kind === 'DaemonSet') {
          const vol = (podSpec(w).volumes as Obj[]).find((v) => v.name === sock[0]);
          const hostSocket = posix.join(vol?.hostPath?.path ?? '?', sock[1]);
          assert.equal(hostSocket, `${kubeletDir}/plugins/poolcsi.io/csi.sock`);
          assert.equal(flag(container(w, 'node-driver-registrar'), 'kubelet-registration-path'), hostSocket);
          const reg = container(w, 'node-driver-registrar').volumeMounts.find((m: Obj) => m.mountPath === '/registration');
          assert.equal((podSpec(w).volumes as Obj[]).find((v) => v.name === reg.name)?.hostPath.path, `${kubeletDir}/plugins_registry`);
        } else {
          assert.ok((podSpec(w).volumes as Obj[]).find((v) => v.name === sock[0])?.emptyDir, 'controller socket on an emptyDir');
        }
      }
    });
  }

  test('node plugin: privileged, host network, kubelet dir Bidirectional at the same path, --path-prefix, NODE_ID', () => {
    const ds = one(render({ kubeletDir: '/var/lib/k0s/kubelet' }), 'DaemonSet');
    const spec = podSpec(ds);
    const driver = container(ds, 'poolcsi');
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.priorityClassName, 'system-node-critical');
    assert.equal(driver.securityContext.privileged, true);
    const kubelet = driver.volumeMounts.find((m: Obj) => m.mountPath === '/var/lib/k0s/kubelet');
    assert.equal(kubelet?.mountPropagation, 'Bidirectional');
    assert.equal(spec.volumes.find((v: Obj) => v.name === kubelet.name).hostPath.path, '/var/lib/k0s/kubelet');
    assert.equal(flag(driver, 'path-prefix'), '/var/lib/k0s/kubelet');
    assert.equal(flag(driver, 'mode'), 'node');
    assert.equal(driver.env.find((e: Obj) => e.name === 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    for (const p of ['/dev', '/sys', '/lib/modules', '/run/udev', '/run/lvm', '/etc/iscsi']) {
      assert.ok(driver.volumeMounts.some((m: Obj) => m.mountPath === p), `node plugin lacks ${p}`);
    }
    // the default dir pool's directory is visible at its own path
    const dirMount = driver.volumeMounts.find((m: Obj) => m.mountPath === '/var/lib/poolcsi/dir');
    assert.equal(spec.volumes.find((v: Obj) => v.name === dirMount?.name)?.hostPath.path, '/var/lib/poolcsi/dir');
  });

  test('controller with nfs pools: root with CAP_SYS_ADMIN alone, to mount the exports; without, no capability', () => {
    const plain = container(one(render(), 'Deployment'), 'poolcsi');
    assert.equal(plain.securityContext.runAsNonRoot, true);
    assert.deepEqual(plain.securityContext.capabilities, { drop: ['ALL'] });
    const nfsPool = { id: 'nas', type: 'nfs', server: '10.0.0.10', export: '/srv/k8s', options: ['vers=4.2'] };
    const dep = one(render({ pools: [nfsPool], storageClasses: [{ name: 'nas', pool: 'nas', default: true }] }), 'Deployment');
    const c = container(dep, 'poolcsi');
    assert.equal(c.securityContext.runAsUser, 0);
    assert.equal(c.securityContext.runAsNonRoot, false);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.privileged, undefined);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['SYS_ADMIN'] });
    assert.deepEqual(c.securityContext.appArmorProfile, { type: 'Unconfined' });
    const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/run/poolcsi/nfs');
    assert.ok(podSpec(dep).volumes.find((v: Obj) => v.name === mount?.name)?.emptyDir, 'export mounts on an emptyDir');
    for (const s of ['csi-provisioner', 'csi-attacher']) assert.deepEqual(container(dep, s).securityContext.capabilities, { drop: ['ALL'] }, `${s} stays unprivileged`);
    const off = container(one(render({ pools: [nfsPool], storageClasses: [{ name: 'nas', pool: 'nas', default: true }], controller: { nfsMounts: false } }), 'Deployment'), 'poolcsi');
    assert.deepEqual(off.securityContext.capabilities, { drop: ['ALL'] });
  });

  test('controller: non-root driver, provisioner flags, leader election in every sidecar', () => {
    const dep = one(render({ controller: { replicas: 2 } }), 'Deployment');
    assert.equal(dep.spec.replicas, 2);
    assert.equal(podSpec(dep).securityContext.runAsNonRoot, true);
    assert.equal(flag(container(dep, 'poolcsi'), 'mode'), 'controller');
    // The driver outlives its sidecars on SIGTERM (they release their leases), inside the grace.
    assert.equal(flag(container(dep, 'poolcsi'), 'drain-seconds'), '20');
    assert.equal(podSpec(dep).terminationGracePeriodSeconds, 30);
    const prov = container(dep, 'csi-provisioner');
    for (const f of ['extra-create-metadata', 'enable-capacity', 'leader-election']) assert.equal(flag(prov, f), '', `--${f}`);
    assert.equal(flag(prov, 'capacity-ownerref-level'), '2'); // pod -> ReplicaSet -> Deployment
    assert.equal(flag(prov, 'default-fstype'), 'ext4');
    assert.match(flag(prov, 'timeout') ?? '', /^\d+s$/);
    assert.match(flag(prov, 'worker-threads') ?? '', /^\d+$/);
    const env = Object.fromEntries((prov.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    assert.deepEqual(env, { NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    for (const s of ['csi-provisioner', 'csi-attacher', 'csi-resizer', 'csi-snapshotter']) {
      assert.equal(flag(container(dep, s), 'leader-election'), '', `${s} --leader-election`);
      assert.equal(flag(container(dep, s), 'leader-election-namespace'), NS);
      // A loaded API server must not make the leaders exit: the lease outlasts a minute of outage,
      // and a stopping sidecar hands its lease over at once.
      assert.equal(flag(container(dep, s), 'leader-election-lease-duration'), '137s');
      assert.equal(flag(container(dep, s), 'leader-election-renew-deadline'), '107s');
      assert.equal(flag(container(dep, s), 'leader-election-retry-period'), '26s');
      const gates = (flag(container(dep, s), 'feature-gates') ?? '').split(',');
      assert.ok(gates.includes('ReleaseLeaderElectionOnExit=true'), `${s} releases its lease on exit: ${gates}`);
    }
    assert.ok(flag(container(dep, 'csi-snapshotter'), 'feature-gates')!.split(',').includes('CSIVolumeGroupSnapshot=false'));
  });
});

describe('RBAC', () => {
  interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
  /** Rules bound to a ServiceAccount: cluster-wide, and per namespace. */
  function grants(objs: Obj[], sa: string): { cluster: Rule[]; ns: Map<string, Rule[]> } {
    const cluster: Rule[] = [];
    const ns = new Map<string, Rule[]>();
    for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
      if (!b.subjects.some((s: Obj) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === NS)) continue;
      const role = b.roleRef.kind === 'ClusterRole' ? one(objs, 'ClusterRole', b.roleRef.name) : one(objs.filter((o) => o.metadata.namespace === b.metadata.namespace), 'Role', b.roleRef.name);
      if (b.kind === 'ClusterRoleBinding') cluster.push(...role.rules);
      else ns.set(b.metadata.namespace, [...(ns.get(b.metadata.namespace) ?? []), ...role.rules]);
    }
    return { cluster, ns };
  }
  const allows = (rules: Rule[], group: string, resource: string, verb: string, name?: string): boolean =>
    rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb)
      && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));

  // What each sidecar release documents in its deploy/kubernetes/rbac.yaml (verbs it needs),
  // as [apiGroup, resource, verbs]; namespaced ones are granted in the release namespace.
  const NEEDS: Record<string, { cluster: Array<[string, string, string[]]>; ns?: Array<[string, string, string[]]> }> = {
    'csi-provisioner v6.3': {
      cluster: [
        ['', 'persistentvolumes', ['get', 'list', 'watch', 'create', 'patch', 'delete']],
        ['', 'persistentvolumeclaims', ['get', 'list', 'watch', 'update']],
        ['storage.k8s.io', 'storageclasses', ['get', 'list', 'watch']],
        ['', 'events', ['list', 'watch', 'create', 'update', 'patch']],
        ['snapshot.storage.k8s.io', 'volumesnapshots', ['get', 'list', 'watch', 'update']],
        ['snapshot.storage.k8s.io', 'volumesnapshotcontents', ['get', 'list']],
        ['storage.k8s.io', 'csinodes', ['get', 'list', 'watch']],
        ['', 'nodes', ['get', 'list', 'watch']],
        ['storage.k8s.io', 'volumeattachments', ['get', 'list', 'watch']],
      ],
      ns: [
        ['coordination.k8s.io', 'leases', ['get', 'watch', 'list', 'delete', 'update', 'create']],
        ['storage.k8s.io', 'csistoragecapacities', ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']],
        ['', 'pods', ['get']],
        ['apps', 'replicasets', ['get']],
      ],
    },
    'csi-attacher v4.12': {
      cluster: [
        ['', 'persistentvolumes', ['get', 'list', 'watch', 'patch']],
        ['storage.k8s.io', 'csinodes', ['get', 'list', 'watch']],
        ['storage.k8s.io', 'volumeattachments', ['get', 'list', 'watch', 'patch']],
        ['storage.k8s.io', 'volumeattachments/status', ['patch']],
      ],
      ns: [['coordination.k8s.io', 'leases', ['get', 'watch', 'list', 'delete', 'update', 'create']]],
    },
    // pods get/list/watch only with --handle-volume-inuse-error=true (the chart sets false)
    'csi-resizer v2.2': {
      cluster: [
        ['', 'persistentvolumes', ['get', 'list', 'watch', 'patch']],
        ['', 'persistentvolumeclaims', ['get', 'list', 'watch']],
        ['', 'persistentvolumeclaims/status', ['patch']],
        ['', 'events', ['list', 'watch', 'create', 'update', 'patch']],
        ['storage.k8s.io', 'volumeattributesclasses', ['get', 'list', 'watch']],
      ],
      ns: [['coordination.k8s.io', 'leases', ['get', 'watch', 'list', 'delete', 'update', 'create']]],
    },
    // groupsnapshot.storage.k8s.io only with CSIVolumeGroupSnapshot (the chart turns it off)
    'csi-snapshotter v8.6': {
      cluster: [
        ['', 'events', ['list', 'watch', 'create', 'update', 'patch']],
        ['snapshot.storage.k8s.io', 'volumesnapshotclasses', ['get', 'list', 'watch']],
        ['snapshot.storage.k8s.io', 'volumesnapshotcontents', ['get', 'list', 'watch', 'update', 'patch']],
        ['snapshot.storage.k8s.io', 'volumesnapshotcontents/status', ['update', 'patch']],
      ],
      ns: [['coordination.k8s.io', 'leases', ['get', 'watch', 'list', 'delete', 'update', 'create']]],
    },
    'poolcsi controller': {
      cluster: [['', 'nodes', ['get', 'list']]],
      ns: [['', 'configmaps', ['get', 'list', 'watch']], ['', 'events', ['create']], ['', 'secrets', ['get']]],
    },
  };

  for (const [who, need] of Object.entries(NEEDS)) {
    test(`the controller's ServiceAccount has what ${who} needs`, () => {
      const g = grants(render(), 'poolcsi-controller');
      for (const [group, resource, verbs] of need.cluster) {
        for (const v of verbs) assert.ok(allows(g.cluster, group, resource, v), `${who}: cluster-wide ${v} ${resource}.${group}`);
      }
      for (const [group, resource, verbs] of need.ns ?? []) {
        for (const v of verbs) assert.ok(allows(g.ns.get(NS) ?? [], group, resource, v), `${who}: ${v} ${resource}.${group} in ${NS}`);
      }
    });
  }

  test('the controller may update the pools ConfigMap (its pool memory annotation) and no other ConfigMap', () => {
    const g = grants(render(), 'poolcsi-controller');
    const rules = g.ns.get(NS) ?? [];
    assert.ok(allows(rules, '', 'configmaps', 'update', 'poolcsi-pools'));
    assert.ok(!allows(rules, '', 'configmaps', 'update', 'other'), 'only the pools ConfigMap');
    assert.ok(!allows(rules, '', 'configmaps', 'patch', 'poolcsi-pools') && !allows(rules, '', 'configmaps', 'delete', 'poolcsi-pools'));
    const named = grants(render({ poolsConfigMap: { name: 'my-pools' } }), 'poolcsi-controller').ns.get(NS) ?? [];
    assert.ok(allows(named, '', 'configmaps', 'update', 'my-pools'), 'follows poolsConfigMap.name');
    assert.ok(!allows(grants(render(), 'poolcsi-node').ns.get(NS) ?? [], '', 'configmaps', 'update', 'poolcsi-pools'), 'the node plugin only reads it');
  });

  test('the node plugin reads its Node and the pools ConfigMap, and nothing cluster-wide beyond that', () => {
    const g = grants(render(), 'poolcsi-node');
    assert.ok(allows(g.cluster, '', 'nodes', 'get'));
    assert.deepEqual(g.cluster.flatMap((r) => r.resources), ['nodes']);
    for (const v of ['get', 'list', 'watch']) assert.ok(allows(g.ns.get(NS) ?? [], '', 'configmaps', v));
    assert.ok(allows(g.ns.get(NS) ?? [], '', 'events', 'create'));
    assert.ok(!allows(g.ns.get(NS) ?? [], '', 'secrets', 'get'), 'the node plugin reads no Secrets');
  });

  test('no wildcards, no cluster-admin, Secrets only where asked', () => {
    const objs = render(allPoolsValues());
    const roles = objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    assert.ok(roles.length >= 8);
    for (const r of roles) {
      for (const rule of r.rules as Rule[]) {
        for (const f of [rule.apiGroups, rule.resources, rule.verbs]) assert.ok(!f.includes('*'), `${r.kind} ${r.metadata.name} has a wildcard`);
      }
      if (r.kind === 'ClusterRole') assert.ok(!r.rules.some((x: Rule) => x.resources.includes('secrets')), `${r.metadata.name}: cluster-wide Secrets`);
    }
    for (const b of objs.filter((o) => o.kind.endsWith('Binding'))) assert.notEqual(b.roleRef.name, 'cluster-admin');
    // the rbd pool's secretRef in namespace "storage": that Secret only
    if (POOL_TYPES.includes('rbd')) {
      const g = grants(objs, 'poolcsi-controller');
      assert.ok(allows(g.ns.get('storage') ?? [], '', 'secrets', 'get', 'ceph-client'));
      assert.ok(!allows(g.ns.get('storage') ?? [], '', 'secrets', 'get', 'other'));
      // the node plugin reads none: the kubelet hands it the node-stage Secret in NodeStageVolume
      const n = grants(objs, 'poolcsi-node');
      for (const [ns, rules] of n.ns) assert.ok(!rules.some((r) => r.resources.includes('secrets')), `the node plugin may read Secrets in ${ns}`);
    }
    // a whole namespace when listed
    const wide = grants(render({ rbac: { secrets: { namespaces: ['storage'] } } }), 'poolcsi-controller');
    assert.ok(allows(wide.ns.get('storage') ?? [], '', 'secrets', 'get', 'anything'));
    const none = grants(render({ rbac: { secrets: { releaseNamespace: false } } }), 'poolcsi-controller');
    assert.ok(!allows(none.ns.get(NS) ?? [], '', 'secrets', 'get', 'x'));
  });
});

describe('pools, classes and KubeVirt', () => {
  test('the values schema rejects an invalid pool, naming the pool and the field', () => {
    refused({ pools: [{ id: 'good', type: 'dir', path: '/srv/a' }, { id: 'bad', type: 'dir', path: 'relative' }], storageClasses: [] }, /\/pools\/1\/path/);
    refused({ pools: [{ id: 'x', type: 'dir', path: '/srv/a', bogus: 1 }], storageClasses: [] }, /\/pools\/0.*bogus/s);
    refused({ pools: [{ id: 'Bad_Id', type: 'dir', path: '/srv/a' }], storageClasses: [] }, /\/pools\/0\/id/);
    refused({ pools: [{ id: 'x', type: 'no-such-type' }], storageClasses: [] }, /\/pools\/0\/type/);
    refused({ pools: [{ id: 'x', type: 'dir', path: '/a' }, { id: 'x', type: 'dir', path: '/b' }], storageClasses: [] }, /duplicate pool id "x"/);
  });

  test('a StorageClass needs a pool, a known one, and at most one is default', () => {
    refused({ storageClasses: [{ name: 'a' }] }, /storageClasses\/0.*pool/s);
    refused({ storageClasses: [{ name: 'a', pool: 'nope' }] }, /pool "nope" is not in pools/);
    refused({ storageClasses: [{ name: 'a', pool: 'local-dir', default: true }, { name: 'b', pool: 'local-dir', default: true }] }, /at most one/);
    // pools managed outside the chart: no check possible
    const objs = render({ poolsConfigMap: { create: false, name: 'my-pools' }, storageClasses: [{ name: 'a', pool: 'elsewhere' }] });
    assert.equal(find(objs, 'ConfigMap').length, 0);
    assert.equal(one(objs, 'StorageClass', 'a').parameters.pool, 'elsewhere');
    assert.equal(flag(container(one(objs, 'DaemonSet'), 'poolcsi'), 'pools-configmap'), `${NS}/my-pools`);
  });

  test('exactly one default VolumeSnapshotClass', () => {
    refused({ volumeSnapshotClasses: [{ name: 'a' }, { name: 'b' }] }, /exactly one must be default.*0 are/);
    refused({ volumeSnapshotClasses: [{ name: 'a', default: true }, { name: 'b', default: true }] }, /exactly one must be default.*2 are/);
    assert.equal(find(render({ volumeSnapshotClasses: [] }), 'VolumeSnapshotClass').length, 0);
    const vsc = one(render(), 'VolumeSnapshotClass');
    assert.equal(vsc.driver, 'poolcsi.io');
    assert.equal(vsc.metadata.annotations['snapshot.storage.kubernetes.io/is-default-class'], 'true');
  });

  test('every pool type: a StorageClass with its pool, CDI settings fitting the type', () => {
    const v = allPoolsValues();
    const objs = render(v);
    const typeOf = new Map((v.pools as Obj[]).map((p) => [p.id, p.type]));
    const job = one(objs, 'Job', 'poolcsi-cdi-profiles');
    assert.equal(job.metadata.annotations['helm.sh/hook'], 'post-install,post-upgrade');
    for (const sc of v.storageClasses as Obj[]) {
      const rendered = one(objs, 'StorageClass', sc.name);
      assert.equal(rendered.provisioner, 'poolcsi.io');
      assert.equal(rendered.parameters.pool, sc.pool);
      const type = typeOf.get(sc.pool)!;
      const patch = container(job, `patch-${sc.name}`).args.find((a: string) => a.startsWith('--patch='));
      const spec = JSON.parse(patch.slice('--patch='.length)).spec as Obj;
      const modes = (spec.claimPropertySets as Obj[]).map((s) => `${s.accessModes.join('+')}/${s.volumeMode}`);
      const strategy = rendered.metadata.annotations['cdi.kubevirt.io/clone-strategy'];
      assert.equal(strategy, spec.cloneStrategy);
      if (['rbd', 'iscsi', 'iscsi-luns', 'zfs-iscsi'].includes(type)) assert.equal(modes[0], 'ReadWriteMany/Block', `${type}: RWX block first (live migration)`);
      if (['lvmthin', 'zfspool', 'zfs-iscsi', 'rbd'].includes(type)) assert.equal(strategy, 'csi-clone', `${type} clones thin`);
      if (type === 'dir') { assert.equal(strategy, 'copy'); assert.deepEqual(modes, ['ReadWriteOnce/Filesystem']); }
      if (type === 'nfs') assert.equal(modes[0], 'ReadWriteMany/Filesystem');
      if (['dir', 'lvm', 'lvmthin', 'zfspool'].includes(type)) assert.ok(!modes.some((m) => m.startsWith('ReadWriteMany')), `${type} is node-local`);
      if (sc.cdi?.snapshotClass) assert.equal(spec.snapshotClass, sc.cdi.snapshotClass);
    }
    const wait = container(job, 'wait');
    assert.deepEqual(wait.args.filter((a: string) => a.startsWith('storageprofile/')).sort(), (v.storageClasses as Obj[]).map((sc) => `storageprofile/${sc.name}`).sort());
    // patch only the profiles of these classes
    const role = one(objs, 'ClusterRole', 'poolcsi-cdi-profiles');
    assert.deepEqual(role.rules.find((r: Obj) => r.verbs.includes('patch')).resourceNames.sort(), (v.storageClasses as Obj[]).map((sc) => sc.name).sort());
  });

  test('rbd classes carry a node-stage secret: the pool\'s secretRef unless the class names its own', { skip: !POOL_TYPES.includes('rbd') }, () => {
    const objs = render(allPoolsValues());
    const p = one(objs, 'StorageClass', 'poolcsi-ceph').parameters;
    assert.equal(p['csi.storage.k8s.io/node-stage-secret-name'], 'ceph-client');
    assert.equal(p['csi.storage.k8s.io/node-stage-secret-namespace'], 'storage');
    assert.equal(p['csi.storage.k8s.io/provisioner-secret-name'], 'ceph-client', 'the controller ones as given');
    assert.equal(one(objs, 'StorageClass', 'poolcsi-lvm').parameters['csi.storage.k8s.io/node-stage-secret-name'], undefined, 'other types get none');
    const rbdPool = { id: 'c', type: 'rbd', monhost: ['10.0.0.1'], pool: 'kube' };
    const own = one(render({ pools: [{ ...rbdPool, secretRef: { name: 'admin', namespace: 'ceph' } }], storageClasses: [{ name: 'c', pool: 'c', parameters: {
      'csi.storage.k8s.io/node-stage-secret-name': 'ceph-node', 'csi.storage.k8s.io/node-stage-secret-namespace': 'ceph' } }] }), 'StorageClass', 'c').parameters;
    assert.equal(own['csi.storage.k8s.io/node-stage-secret-name'], 'ceph-node');
    assert.equal(own['csi.storage.k8s.io/node-stage-secret-namespace'], 'ceph');
    refused({ pools: [rbdPool], storageClasses: [{ name: 'c', pool: 'c' }] }, /rbd pool "c" has no secretRef; set parameters csi.storage.k8s.io\/node-stage-secret-name/);
  });

  test('without cdi.enabled there is no Job and no CDI annotation', () => {
    const objs = render();
    assert.equal(find(objs, 'Job').length, 0);
    assert.equal(one(objs, 'StorageClass').metadata.annotations['cdi.kubevirt.io/clone-strategy'], undefined);
  });

  test('monitoring: PodMonitor, or ServiceMonitor with Services on the metrics ports', () => {
    const objs = render(allPoolsValues());
    one(objs, 'PodMonitor');
    one(objs, 'ServiceMonitor');
    const dep = one(objs, 'Deployment');
    const ds = one(objs, 'DaemonSet');
    const svcPort = (n: string) => one(objs, 'Service', n).spec.ports[0].port;
    assert.equal(`:${svcPort('poolcsi-controller-metrics')}`, flag(container(dep, 'poolcsi'), 'metrics-address'));
    assert.equal(`:${svcPort('poolcsi-node-metrics')}`, flag(container(ds, 'poolcsi'), 'metrics-address'));
    assert.equal(find(render(), 'ServiceMonitor').length + find(render(), 'PodMonitor').length, 0);
  });
});

describe('node agent mutual TLS', () => {
  const secretData = (objs: Obj[], name: string) => {
    const d = one(objs, 'Secret', name).data as Obj;
    return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()]));
  };

  test('generated: one CA, a server certificate for poolcsi-agent and a client certificate', () => {
    const objs = render();
    const server = secretData(objs, 'poolcsi-agent-server');
    const client = secretData(objs, 'poolcsi-agent-client');
    assert.equal(server['ca.crt'], client['ca.crt']);
    const ca = new X509Certificate(server['ca.crt']!);
    const s = new X509Certificate(server['tls.crt']!);
    const c = new X509Certificate(client['tls.crt']!);
    assert.ok(ca.ca);
    assert.ok(s.verify(ca.publicKey) && s.checkIssued(ca), 'server certificate signed by the CA');
    assert.ok(c.verify(ca.publicKey) && c.checkIssued(ca), 'client certificate signed by the CA');
    assert.equal(s.checkHost('poolcsi-agent'), 'poolcsi-agent');
    // the agents accept exactly the name the controller's certificate carries
    assert.equal(c.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3), flag(container(one(objs, 'DaemonSet'), 'poolcsi'), 'agent-client-name'));
    assert.ok(s.checkPrivateKey(createPrivateKey(server['tls.key']!)));
    assert.ok(c.checkPrivateKey(createPrivateKey(client['tls.key']!)));
    assert.ok(c.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), 'client certificate allows client auth');
    // mounted where the agent flags point
    const ds = one(objs, 'DaemonSet');
    const dep = one(objs, 'Deployment');
    for (const [w, secret] of [[ds, 'poolcsi-agent-server'], [dep, 'poolcsi-agent-client']] as const) {
      const driver = container(w, 'poolcsi');
      const dir = flag(driver, 'agent-tls-dir');
      const mount = driver.volumeMounts.find((m: Obj) => m.mountPath === dir);
      assert.equal(podSpec(w).volumes.find((v: Obj) => v.name === mount?.name)?.secret?.secretName, secret);
    }
    const listen = flag(container(ds, 'poolcsi'), 'agent-listen');
    assert.ok(container(ds, 'poolcsi').ports.some((p: Obj) => listen?.endsWith(`:${p.containerPort}`) && p.name === 'agent'));
  });

  test('cert-manager instead: Certificates, no generated Secrets; not both', () => {
    const objs = render({ agent: { tls: { generate: false, certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } } });
    assert.equal(find(objs, 'Secret').length, 0);
    const certs = find(objs, 'Certificate');
    assert.deepEqual(certs.map((c) => c.spec.secretName).sort(), ['poolcsi-agent-client', 'poolcsi-agent-server']);
    for (const c of certs) assert.equal(c.spec.issuerRef.name, 'corp-ca');
    assert.equal(find(objs, 'Issuer').length, 0);
    const selfSigned = render({ agent: { tls: { generate: false, certManager: { enabled: true } } } });
    assert.equal(find(selfSigned, 'Issuer').length, 2);
    refused({ agent: { tls: { generate: true, certManager: { enabled: true } } } }, /not both/);
  });

  test('agent.enabled=false drops the flags, port, Secrets and mounts', () => {
    const objs = render({ agent: { enabled: false } });
    assert.equal(find(objs, 'Secret').length, 0);
    for (const w of [one(objs, 'DaemonSet'), one(objs, 'Deployment')]) {
      const driver = container(w, 'poolcsi');
      assert.ok(!driver.args.some((a: string) => a.startsWith('--agent')), `${w.kind}: ${driver.args}`);
      assert.ok(!podSpec(w).volumes.some((v: Obj) => v.secret));
    }
  });
});

describe('generated files are up to date', () => {
  test('manifests/ is the default render (scripts/render-manifests.sh --check)', () => {
    const r = spawnSync('bash', ['scripts/render-manifests.sh', '--check'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, HELM } });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
  });

  test('values.schema.json carries the current pool schema (npm run chart:schema)', () => {
    const gen = (...args: string[]) => spawnSync(process.execPath, ['scripts/gen-chart-schema.mjs', '--check', ...args], { cwd: ROOT, encoding: 'utf8' });
    const r = gen();
    assert.equal(r.status, 0, r.stderr);
    // and the check notices a stale copy
    const stale = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Obj;
    stale.$defs.pools.items.properties.type.enum.pop();
    const f = join(tmp, 'stale.schema.json');
    writeFileSync(f, `${JSON.stringify(stale, null, 2)}\n`);
    const r2 = gen('--file', f);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /stale.*npm run chart:schema/);
  });

  test('the schema knows every pool type of the driver', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Obj;
    assert.deepEqual([...schema.$defs.pools.items.properties.type.enum].sort(), [...POOL_TYPES].sort());
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  test('pinned base images, the tools the backends run, files it copies exist', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    assert.deepEqual(froms.map((f) => f.replace(/@sha256:.*/, '')), ['node:20-bookworm-slim', 'debian:bookworm-slim']);
    for (const pkg of ['lvm2', 'thin-provisioning-tools', 'e2fsprogs', 'xfsprogs', 'btrfs-progs', 'util-linux', 'mount',
      'open-iscsi', 'nfs-common', 'ceph-common', 'multipath-tools', 'openssh-client', 'kmod']) {
      assert.match(dockerfile, new RegExp(`\\s${pkg}(\\s|\\\\)`), `runtime image lacks ${pkg}`);
    }
    for (const m of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
      for (const src of m[1]!.split(/\s+/).filter((s) => !s.startsWith('--'))) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: no such file`);
    }
  });
});

describe('registrar and liveness probe', () => {
  test('implementation: poolcsi — the driver image registers with the kubelet and answers liveness (poolcsi registrar, poolcsi health)', () => {
    const objs = render({ sidecars: { livenessProbe: { implementation: 'poolcsi' }, nodeDriverRegistrar: { implementation: 'poolcsi' } } });
    const ds = one(objs, 'DaemonSet');
    const driver = container(ds, 'poolcsi').image;
    const reg = container(ds, 'node-driver-registrar');
    assert.equal(reg.image, driver);
    assert.equal(reg.args[0], 'registrar');
    assert.ok(reg.args.includes('--kubelet-registration-path=/var/lib/kubelet/plugins/poolcsi.io/csi.sock'));
    assert.ok(reg.args.includes('--registration-dir=/registration'));
    assert.ok(reg.volumeMounts.some((m: Obj) => m.mountPath === '/registration'));
    // The image's user is 65532; plugins_registry and the driver's socket on the node are root's.
    assert.equal(reg.securityContext.runAsUser, 0);
    assert.equal(container(ds, 'liveness-probe').securityContext.runAsUser, 0);
    for (const o of [ds, one(objs, 'Deployment')]) {
      const lp = container(o, 'liveness-probe');
      assert.equal(lp.image, driver);
      assert.equal(lp.args[0], 'health');
    }
  });

  test('by default (implementation: upstream) the kubernetes-csi images run', () => {
    const objs = render({});
    const ds = one(objs, 'DaemonSet');
    assert.match(container(ds, 'node-driver-registrar').image, /csi-node-driver-registrar:v/);
    assert.match(container(ds, 'liveness-probe').image, /livenessprobe:v/);
    assert.match(container(one(objs, 'Deployment'), 'liveness-probe').image, /livenessprobe:v/);
    refused({ sidecars: { nodeDriverRegistrar: { implementation: 'mine' } } }, /implementation/);
  });

  test('the sidecar pins are the versions the k8s lane builds and runs (test/k8s/versions.env)', () => {
    const env = Object.fromEntries(readFileSync(join(ROOT, 'test/k8s/versions.env'), 'utf8').split('\n')
      .map((l) => /^([A-Z_]+)=(\S+)$/.exec(l)).filter((m) => m).map((m) => [m![1], m![2]]));
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    assert.equal(values.sidecars.provisioner.image.tag, env.PROVISIONER_VERSION);
    assert.equal(values.sidecars.attacher.image.tag, env.ATTACHER_VERSION);
    assert.equal(values.sidecars.resizer.image.tag, env.RESIZER_VERSION);
    assert.equal(values.sidecars.snapshotter.image.tag, env.SNAPSHOTTER_VERSION);
  });
});
