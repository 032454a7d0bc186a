// csi-sanity against the driver inside a lab node: the node runs the services a backend
// needs, the driver runs there as `poolcsi serve --mode all`, and csi-sanity (a static Go
// binary, run from the host's file system) talks to it over a unix socket in the node.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab } from './lab.js';
import { LabError, tailFile, type LabNode } from './node.js';
import { DRIVER_MAIN, startDriver } from './driver.js';

export { DRIVER_MAIN };
import type { ServiceName } from './services.js';

export const CSI_SANITY = process.env.CSI_SANITY ?? '/root/go/bin/csi-sanity';
export const CSI_SANITY_INSTALL = 'go install github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0 (or set CSI_SANITY)';

export type SanityMode = 'mount' | 'block';

export interface SanityOptions {
  /** Services the node runs for the backend, e.g. ['lvm']. */
  services: ServiceName[];
  /** The driver's pools file. */
  poolsYaml: string;
  /** --node-id of the driver, also the node's host name. Default 'lab-node'. */
  nodeId?: string;
  /** StorageClass parameters for csi-sanity's volumes (--csi.testvolumeparameters). */
  volumeParameters: Record<string, string>;
  /** More csi-sanity arguments, e.g. ['--csi.testvolumesize=67108864', '--ginkgo.skip=...']. */
  sanityArgs?: string[];
  /** Default ['mount']; 'block' adds --csi.testvolumeaccesstype=block. */
  modes?: SanityMode[];
  /** Runs in the node after its services are up, before the driver starts (make the pool's
   * directory, a VG config, ...). */
  prepare?: (node: LabNode) => Promise<void>;
  /** More environment for the driver (it already gets NODE_ENV, e.g. LVM_SYSTEM_DIR). */
  driverEnv?: Record<string, string>;
  /** More driver arguments. */
  driverArgs?: string[];
  /** Names the artifacts folder. Default `sanity-<nodeId>`. */
  name?: string;
  memMiB?: number;
  /** Extra settings for the node (e.g. LAB_LVM_VG_SIZE). */
  labEnv?: Record<string, string>;
  /** Per mode. Default 20 minutes. */
  timeoutMs?: number;
  /** For the driver's socket to appear (default 30 s). */
  driverReadyTimeoutMs?: number;
}

export interface SanitySpec {
  text: string;
  state: string;
  failure?: string;
}

export interface SanityModeResult {
  mode: SanityMode;
  /** Ginkgo's summary, e.g. "Ran 71 of 95 Specs in 40.2 seconds; SUCCESS! -- 71 Passed | 0 Failed | 0 Pending | 24 Skipped". */
  summary: string;
  ran: number;
  total: number;
  passed: number;
  failed: number;
  pending: number;
  skipped: number;
  exitCode: number | null;
  /** Every spec with its outcome (from Ginkgo's JSON report). */
  specs: SanitySpec[];
  /** csi-sanity's whole output (host path, kept after the run). */
  outputFile: string;
  durationMs: number;
}

export interface SanityResult {
  modes: SanityModeResult[];
  /** The driver's log (host path, kept after the run). */
  driverLog: string;
  artifactsDir: string;
  /** Boot and service times of the node. */
  timings: string[];
}

const SOCKET_DIR = '/run/lab/csi';
const SOCKET = `${SOCKET_DIR}/csi.sock`;

/** Boot a node with the services, run the driver and csi-sanity in it (once per mode), tear
 * everything down. Resolves with the results even when specs failed; rejects when the lab, the
 * driver or csi-sanity itself could not run (with the driver's log tail). */
export async function runSanity(opts: SanityOptions): Promise<SanityResult> {
  const nodeId = opts.nodeId ?? 'lab-node';
  const lab = await startLab({
    name: opts.name ?? `sanity-${nodeId}`,
    nodes: [{ name: nodeId, services: opts.services, memMiB: opts.memMiB ?? 1024 }],
    env: opts.labEnv,
    files: [
      { path: CSI_SANITY, fix: `csi-sanity is not installed: ${CSI_SANITY_INSTALL}` },
      { path: DRIVER_MAIN, fix: 'the driver is not built: run npm run build' },
    ],
  });
  try {
    return await sanityInLab(lab, lab.node(nodeId), nodeId, opts);
  } finally {
    await lab.close();
  }
}

/** The driver and csi-sanity in a node of a lab that is already up (e.g. the ZFS guest);
 * `services`, `memMiB` and `labEnv` of opts are the lab's business and ignored here. */
export async function sanityInLab(lab: Lab, node: LabNode, nodeId: string, opts: SanityOptions): Promise<SanityResult> {
  await opts.prepare?.(node);
  const poolsFile = join(node.runDir, 'pools.yaml');
  const paramsFile = join(node.runDir, 'volume-parameters.yaml');
  writeFileSync(poolsFile, opts.poolsYaml);
  writeFileSync(paramsFile, Object.entries(opts.volumeParameters).map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join(''));

  const driver = await startDriver(node, {
    nodeId, poolsFile, ...(opts.driverArgs ? { args: opts.driverArgs } : {}), ...(opts.driverEnv ? { env: opts.driverEnv } : {}),
    ...(opts.driverReadyTimeoutMs ? { readyTimeoutMs: opts.driverReadyTimeoutMs } : {}),
  });
  const driverDown = () => driver.down();

  const modes: SanityModeResult[] = [];
  for (const mode of opts.modes ?? ['mount']) {
    modes.push(await sanityMode(lab, node, mode, paramsFile, opts));
    const down = driverDown();
    if (down) throw down;
  }

  await driver.stop();
  return { modes, driverLog: driver.logFile, artifactsDir: lab.artifactsDir, timings: lab.report() };
}

async function sanityMode(lab: Lab, node: LabNode, mode: SanityMode, paramsFile: string, opts: SanityOptions): Promise<SanityModeResult> {
  const dir = `/tmp/csi-sanity-${mode}`;
  const report = join(lab.artifactsDir, `sanity-${mode}.json`);
  const outputFile = join(lab.artifactsDir, `sanity-${mode}.log`);
  const timeoutMs = opts.timeoutMs ?? 20 * 60_000;
  await node.run(['mkdir', '-p', dir]); // csi-sanity makes its mount and staging dirs, not their parent
  const r = await node.exec(
    [
      CSI_SANITY,
      `--csi.endpoint=unix://${SOCKET}`,
      `--csi.mountdir=${dir}/mount`,
      `--csi.stagingdir=${dir}/staging`,
      `--csi.testvolumeparameters=${paramsFile}`,
      ...(mode === 'block' ? ['--csi.testvolumeaccesstype=block'] : []),
      `--ginkgo.json-report=${report}`,
      '--ginkgo.no-color',
      `--ginkgo.timeout=${Math.floor(timeoutMs / 1000)}s`,
      ...(opts.sanityArgs ?? []),
    ],
    { timeoutMs: timeoutMs + 60_000 },
  );
  writeFileSync(outputFile, `${r.stdout}\n--- stderr\n${r.stderr}`);
  const counts = parseSummary(r.stdout);
  if (!counts) {
    throw new LabError(
      `csi-sanity (${mode}) printed no summary (${r.timedOut ? 'timed out' : `exit code ${r.code}`}); output: ${outputFile}\n${tailFile(outputFile, 30)}`,
    );
  }
  return { mode, ...counts, exitCode: r.code, specs: readSpecs(report), outputFile, durationMs: r.durationMs };
}

/** Ginkgo's two closing lines, e.g. "Ran 71 of 95 Specs in 40.2 seconds" and
 * "SUCCESS! -- 71 Passed | 0 Failed | 0 Pending | 24 Skipped". */
export function parseSummary(output: string): Omit<SanityModeResult, 'mode' | 'exitCode' | 'specs' | 'outputFile' | 'durationMs'> | undefined {
  const ran = /Ran (\d+) of (\d+) Specs? in [\d.]+ seconds/.exec(output);
  const tally = /(\w+!).*?(\d+) Passed \| (\d+) Failed \| (?:\d+ Flaked \| )?(\d+) Pending \| (\d+) Skipped/.exec(output);
  if (!ran || !tally) return undefined;
  return {
    summary: `${ran[0]}; ${tally[0].trim()}`,
    ran: Number(ran[1]),
    total: Number(ran[2]),
    passed: Number(tally[2]),
    failed: Number(tally[3]),
    pending: Number(tally[4]),
    skipped: Number(tally[5]),
  };
}

interface GinkgoSpec {
  ContainerHierarchyTexts?: string[];
  LeafNodeText?: string;
  State: string;
  Failure?: { Message?: string };
}

function readSpecs(report: string): SanitySpec[] {
  if (!existsSync(report)) return [];
  const json = JSON.parse(readFileSync(report, 'utf8')) as Array<{ SpecReports?: GinkgoSpec[] }>;
  return (json[0]?.SpecReports ?? [])
    .filter((s) => s.LeafNodeText)
    .map((s) => ({
      text: [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' '),
      state: s.State,
      ...(s.Failure?.Message ? { failure: s.Failure.Message } : {}),
    }));
}
