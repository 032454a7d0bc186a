// The benchmark suite (`npm run bench`): per pool type, each CSI operation against the bare
// command(s) a person would type, 50 concurrent CreateVolume calls against 50 bare creates in a
// row, the programs started per operation and per minute at rest, and the driver's memory.
// dir runs on this machine; lvm, lvmthin, rbd, iscsi and nfs in one User-Mode Linux lab node (root);
// zfspool in the ZFS guest (QEMU TCG, harness/zfsguest.ts) and zfs-iscsi in a UML node that reaches
// that guest over SSH and iSCSI; one pool type after the other. Prints a Markdown table and writes
// everything as JSON.
//
//   npm run bench -- [--kinds dir,lvm,lvmthin,rbd,iscsi,nfs,zfspool,zfs-iscsi] [--rounds 10] [--batch 50] [--rest-seconds 60]
//                    [--requests 10000] [--no-memory] [--out bench-results.json]
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KINDS, runKind, type Kind, type KindResult } from './ops.js';
import { measureMode, type MemoryResult } from './memory.js';
import type { LabNode } from '../lab/harness/index.js';

const OPS_JS = fileURLToPath(new URL('./ops.js', import.meta.url));
export const LAB_KINDS: readonly Kind[] = ['lvm', 'lvmthin', 'rbd', 'iscsi', 'nfs'];
export const ZFS_KINDS: readonly Kind[] = ['zfspool', 'zfs-iscsi'];
/** The driver's pool dataset in the ZFS guest's zpool. */
const ZFS_DATASET = 'tank/k8s';

export interface SuiteOptions {
  kinds: Kind[];
  rounds: number;
  batch: number;
  restSeconds: number;
  /** 0: no memory measurement. */
  requests: number;
  sizeMiB: number;
}

export interface SuiteResult {
  command: string;
  machine: { host: string; cpu: string; cores: number; memGiB: number; kernel: string; node: string; loadStart: number[]; loadEnd: number[] };
  /** Where the lab pool types ran. */
  lab?: { kernel: string; memMiB: number };
  /** Where the zfs pool types ran: the guest's kernel and OpenZFS, and its memory. */
  zfsGuest?: { kernel: string; zfs: string; memMiB: number; cpus: number };
  started: string;
  finished: string;
  kinds: KindResult[];
  memory: MemoryResult[];
  /** Pool types whose run failed, with the end of their error output. */
  failed?: string[];
}

/** `partial` gets each pool type's result as it comes (the run is long; nothing is lost if it is cut short). */
export async function runSuite(o: SuiteOptions, command: string, log: (line: string) => void = () => undefined, partial: (k: KindResult) => void = () => undefined): Promise<SuiteResult> {
  const started = new Date().toISOString();
  const loadStart = loadavg().map((x) => Math.round(x * 10) / 10);
  const kinds: KindResult[] = [];
  const failed: string[] = [];
  let memory: MemoryResult[] = [];
  let lab: SuiteResult['lab'];
  let zfsGuest: SuiteResult['zfsGuest'];
  const common = ['--rounds', String(o.rounds), '--batch', String(o.batch), '--rest-seconds', String(o.restSeconds), '--size-mib', String(o.sizeMiB)];
  const { NODE_ENV } = await import('../lab/harness/index.js');
  // One pool type failing does not lose the others' results: it is reported and skipped.
  const runIn = async (node: LabNode, kind: Kind, args: string[]) => {
    log(`${kind}: in lab node ${node.name}`);
    const trace = join(node.runDir, `bench-${kind}.trace`);
    log(`${kind}: progress in ${trace}`);
    const r = await node.exec([process.execPath, OPS_JS, '--kind', kind, ...args, ...common], { env: { ...NODE_ENV, BENCH_TRACE: trace }, timeoutMs: 60 * 60_000 });
    if (r.code !== 0) { failed.push(`${kind}: ${r.stderr.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-4).join(' / ')}`); log(`${kind} FAILED: ${failed[failed.length - 1]}`); return; }
    kinds.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as KindResult);
    partial(kinds[kinds.length - 1]!);
  };
  if (o.kinds.includes('dir')) {
    log('dir: on this machine');
    kinds.push(await runKind({ kind: 'dir', rounds: o.rounds, batch: o.batch, restSeconds: o.restSeconds, sizeMiB: o.sizeMiB, path: `/var/tmp/poolcsi-bench-dir-${process.pid}` }));
    partial(kinds[kinds.length - 1]!);
  }
  if (o.requests > 0) {
    log('memory: serve --mode node, --mode controller');
    memory = [await measureMode('node', o.requests), await measureMode('controller', o.requests)];
  }
  const inLab = o.kinds.filter((k) => LAB_KINDS.includes(k));
  if (inLab.length) {
    const { startLab } = await import('../lab/harness/index.js');
    const { cephKey, rbdPoolYaml, startMgr, writeIn, writeSecretDir } = await import('../lab/rbd-support.js');
    const services = [
      ...(inLab.some((k) => k === 'lvm' || k === 'lvmthin' || k === 'iscsi') ? ['lvm' as const] : []),
      ...(inLab.includes('rbd') ? ['ceph' as const] : []),
      ...(inLab.includes('iscsi') ? ['iscsi-target' as const, 'iscsi-initiator' as const] : []),
      ...(inLab.includes('nfs') ? ['nfs' as const] : []),
    ];
    const memMiB = 2048;
    log(`lab: booting one node (${services.join(', ')})`);
    const l = await startLab({ name: 'bench', nodes: [{ name: 'bench', services, memMiB }] });
    try {
      const node = l.node('bench');
      lab = { kernel: (await node.run(['uname', '-r'])).stdout.trim(), memMiB };
      for (const kind of inLab) {
        let args: string[];
        if (kind === 'rbd') {
          const key = await cephKey(node);
          await writeIn(node, '/run/lab/bench/pools.yaml', rbdPoolYaml({ id: 'bench', monhost: '127.0.0.1:6789' }));
          await writeSecretDir(node, '/run/lab/bench/secrets', key);
          await startMgr(node);
          args = ['--rbd-pool', 'rbd', '--pools-file', '/run/lab/bench/pools.yaml', '--secrets-dir', '/run/lab/bench/secrets'];
        } else if (kind === 'nfs') {
          args = ['--nfs-export', '/srv/nfs'];
        } else {
          args = ['--vg', 'labvg', ...(kind !== 'lvm' ? ['--thinpool', 'thin'] : [])];
        }
        await runIn(node, kind, args);
      }
    } finally {
      await l.close();
    }
  }
  const inZfs = o.kinds.filter((k) => ZFS_KINDS.includes(k));
  if (inZfs.length) {
    const { createZpool, startLab, zfsGuest: guestKind } = await import('../lab/harness/index.js');
    const iscsi = inZfs.includes('zfs-iscsi');
    const memMiB = 2048;
    // zfspool runs in the guest (its driver and its bare commands); zfs-iscsi in a UML node on
    // the lab Ethernet with the initiator, the guest being its storage host (sshd, LIO), as in
    // test/lab/zfs-iscsi.test.ts.
    log(`zfs: booting the ZFS guest${iscsi ? ' and an initiator node' : ''}`);
    const l = await startLab({
      name: 'bench-zfs', network: iscsi,
      nodes: [
        { name: 'zfshost', memMiB, guest: guestKind({ diskBytes: 8 * 1024 ** 3 }), services: iscsi ? ['sshd', 'iscsi-target'] : [] },
        ...(iscsi ? [{ name: 'initiator', memMiB: 1536, services: ['iscsi-initiator' as const] }] : []),
      ],
      serviceTimeoutMs: { sshd: 180_000, 'iscsi-target': 180_000 },
    });
    try {
      const host = l.node('zfshost');
      await createZpool(l, host, 'tank', ZFS_DATASET);
      zfsGuest = { kernel: (await host.run(['uname', '-r'])).stdout.trim(), zfs: (await host.run(['cat', '/sys/module/zfs/version'])).stdout.trim(), memMiB,
        cpus: Number((await host.run(['nproc'])).stdout.trim()) };
      for (const kind of inZfs) {
        if (kind === 'zfspool') { await runIn(host, kind, ['--zfs-parent', ZFS_DATASET]); continue; }
        const node = l.node('initiator');
        const hostKey = (await host.run(['cat', '/run/lab/sshd/ssh_host_ed25519_key.pub'])).stdout.trim();
        const poolsFile = join(node.runDir, 'bench-pools.yaml');
        const knownHosts = join(node.runDir, 'bench-known-hosts');
        // JSON is YAML: no quoting of the host key line to get wrong.
        await writeFile(poolsFile, JSON.stringify({
          pools: [{
            id: 'bench', type: 'zfs-iscsi', pool: ZFS_DATASET, portals: [`${host.ip}:3260`], iqnPrefix: 'iqn.2003-01.org.example.bench',
            ssh: { host: host.ip, privateKey: { file: l.sshKey }, hostKey },
          }],
        }));
        await writeFile(knownHosts, `${host.ip} ${hostKey.split(' ').slice(0, 2).join(' ')}\n`);
        await runIn(node, kind, ['--pools-file', poolsFile, '--zfs-parent', ZFS_DATASET, '--ssh-host', host.ip!, '--ssh-key', l.sshKey,
          '--known-hosts', knownHosts, '--portal', `${host.ip}:3260`]);
      }
    } finally {
      await l.close();
    }
  }
  const cpu = cpus();
  return {
    command,
    machine: {
      host: hostname(), cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(), node: process.version, loadStart, loadEnd: loadavg().map((x) => Math.round(x * 10) / 10),
    },
    ...(lab ? { lab } : {}), ...(zfsGuest ? { zfsGuest } : {}),
    started, finished: new Date().toISOString(), kinds, memory, ...(failed.length ? { failed } : {}),
  };
}

const ms = (x: number | undefined) => (x === undefined ? '–' : x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);

/** The result as Markdown: what docs/performance.md keeps. */
export function formatTable(r: SuiteResult): string {
  const out: string[] = [];
  out.push(`Command: \`${r.command}\``);
  out.push(`Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memGiB} GiB, Linux ${r.machine.kernel}, Node ${r.machine.node}; ` +
    `load average ${r.machine.loadStart[0]} at the start, ${r.machine.loadEnd[0]} at the end${r.lab ? `; lab node: UML ${r.lab.kernel}, ${r.lab.memMiB} MiB, 1 CPU` : ''}` +
    `${r.zfsGuest ? `; ZFS guest: QEMU TCG, Linux ${r.zfsGuest.kernel}, OpenZFS ${r.zfsGuest.zfs}, ${r.zfsGuest.memMiB} MiB, ${r.zfsGuest.cpus} vCPUs` : ''}.`);
  out.push(`Run: ${r.started} to ${r.finished}.`, '');
  out.push('| pool | operation | poolcsi (median) | bare command | bare (median) | ratio | programs poolcsi / bare |');
  out.push('|---|---|---|---|---|---|---|');
  for (const k of r.kinds) {
    for (const o of k.ops) {
      out.push(`| ${k.kind} | ${o.op} | ${ms(o.driverMedianMs)} | ${o.bare} | ${ms(o.bareMedianMs)} | ${o.ratio ?? '–'} | ${o.driverProcs} / ${o.bareProcs} |`);
    }
    const b = k.batch;
    out.push(`| ${k.kind} | ${b.n}× CreateVolume at once | ${ms(b.concurrentCreateMs)} (wall) | ${b.n} bare creates in a row | ${ms(b.serialBareMs)} | ${b.ratio} | |`);
    out.push(`| ${k.kind} | ${b.n}× DeleteVolume at once | ${ms(b.concurrentDeleteMs)} (wall) | ${b.n} bare deletes in a row | ${ms(b.serialBareDeleteMs)} | ${b.deleteRatio} | |`);
  }
  out.push('', `Rounds: ${r.kinds[0]?.rounds ?? 0} per operation (medians), volumes of ${r.kinds[0]?.sizeMiB ?? 0} MiB; ratio = poolcsi / bare.`, '');
  out.push('| pool | programs per minute at rest | volumes | per GetCapacity | per NodeGetVolumeStats (first; mean of 10 in a row) | kubelet + provisioner load (1 GetCapacity + NodeGetVolumeStats per volume per minute, at the mean) |');
  out.push('|---|---|---|---|---|---|');
  for (const k of r.kinds) {
    const x = k.rest;
    out.push(`| ${k.kind} | ${x.procsPerMinute} (over ${x.seconds} s) | ${x.volumes} | ${x.getCapacityProcs} | ${x.volumeStatsFirstProcs ?? x.volumeStatsProcs}; ${x.volumeStatsProcs} | ${Math.round(x.getCapacityProcs + x.volumes * x.volumeStatsProcs)} per minute |`);
  }
  if (r.memory.length) {
    out.push('', '| serve --mode | idle RSS | requests | mix | requests/s | RSS right after | RSS settled |', '|---|---|---|---|---|---|---|');
    for (const m of r.memory) out.push(`| ${m.mode} | ${m.idleMiB} MiB | ${m.requests} | ${m.mix} | ${m.requestsPerSecond} | ${m.afterMiB} MiB | ${m.settledMiB} MiB |`);
  }
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kinds: { type: 'string', default: KINDS.join(',') }, rounds: { type: 'string', default: '10' }, batch: { type: 'string', default: '50' },
      'rest-seconds': { type: 'string', default: '60' }, requests: { type: 'string', default: '10000' }, 'no-memory': { type: 'boolean' },
      'size-mib': { type: 'string', default: '64' }, out: { type: 'string', default: 'bench-results.json' },
    },
    strict: true,
  });
  const kinds = values.kinds.split(',') as Kind[];
  for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`--kinds: unknown pool type "${k}"`);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const r = await runSuite({
    kinds, rounds: Number(values.rounds), batch: Number(values.batch), restSeconds: Number(values['rest-seconds']),
    requests: values['no-memory'] ? 0 : Number(values.requests), sizeMiB: Number(values['size-mib']),
  }, command, (l) => process.stderr.write(`bench: ${l}\n`), (k) => process.stderr.write(`bench: ${k.kind} done: ${JSON.stringify(k)}\n`));
  await writeFile(values.out, `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(formatTable(r));
  for (const f of r.failed ?? []) process.stdout.write(`FAILED ${f}\n`);
  if (r.failed?.length) process.exitCode = 1;
  process.stdout.write(`\n(JSON: ${values.out})\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => { process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
