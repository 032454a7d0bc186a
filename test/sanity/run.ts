// Running csi-sanity against a poolcsi process and reading its JSON report.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { waitFor } from '../../src/exec/wait.js';

export const CSI_SANITY = process.env.CSI_SANITY
  ?? [join(process.env.GOPATH ?? join(process.env.HOME ?? '/root', 'go'), 'bin', 'csi-sanity'), '/usr/local/bin/csi-sanity'].find(existsSync)
  ?? 'csi-sanity';

export const MAIN = new URL('../../src/cli/main.cjs', import.meta.url).pathname;

export interface Driver { socket: string; dir: string; log: string; proc: ResultPromise; stop(): Promise<void> }

/** Starts `poolcsi serve --mode all` with `poolsYaml` and waits for its socket. */
export async function startDriver(poolsYaml: (dir: string) => string, extraArgs: string[] = []): Promise<Driver> {
  const dir = await mkdtemp(join(tmpdir(), 'poolcsi-sanity-'));
  const socket = join(dir, 'csi.sock');
  const log = join(dir, 'driver.log');
  await writeFile(join(dir, 'pools.yaml'), poolsYaml(dir));
  const proc = execa('node', [MAIN, 'serve', '--mode', 'all', '--endpoint', `unix://${socket}`, '--node-id', 'sanity-node',
    '--pools-file', join(dir, 'pools.yaml'), '--state-dir', join(dir, 'state'), '--log-level', 'debug', ...extraArgs], { stdout: { file: log }, stderr: { file: log }, reject: false });
  await waitFor(() => existsSync(socket) || (proc.exitCode !== null ? Promise.reject(new Error('driver exited')) : undefined),
    { timeoutMs: 20_000, what: `driver socket ${socket}` });
  return {
    socket, dir, log, proc,
    async stop() { proc.kill('SIGTERM'); await proc; },
  };
}

export interface SpecResult { text: string; state: string; failure?: string }
export interface SanityResult { summary: string; passed: number; failed: number; skipped: number; pending: number; specs: SpecResult[]; output: string }

interface GinkgoSpec { ContainerHierarchyTexts?: string[]; LeafNodeText?: string; State: string; Failure?: { Message?: string } }

/** Runs csi-sanity; returns the Ginkgo-style summary line and every spec's outcome. */
export async function runSanity(socket: string, dir: string, args: string[] = []): Promise<SanityResult> {
  const report = join(dir, `sanity-${Date.now()}.json`);
  const r = await execa(CSI_SANITY, [
    `--csi.endpoint=unix://${socket}`,
    `--csi.mountdir=${join(dir, 'mnt')}`,
    `--csi.stagingdir=${join(dir, 'stage')}`,
    `--ginkgo.json-report=${report}`,
    '--ginkgo.no-color',
    '--ginkgo.timeout=20m',
    ...args,
  ], { reject: false, all: true, timeout: 25 * 60_000 });
  const json = JSON.parse(await readFile(report, 'utf8')) as Array<{ SpecReports?: GinkgoSpec[] }>;
  const specs: SpecResult[] = (json[0]?.SpecReports ?? [])
    .filter((s) => s.LeafNodeText)
    .map((s) => ({
      text: [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' '),
      state: s.State,
      ...(s.Failure?.Message ? { failure: s.Failure.Message } : {}),
    }));
  const count = (st: string) => specs.filter((s) => s.state === st).length;
  const passed = count('passed');
  const failed = specs.filter((s) => ['failed', 'panicked', 'timedout', 'aborted', 'interrupted'].includes(s.state)).length;
  const line = /Ran \d+ of \d+ Specs.*\n.*(Passed|FAIL|SUCCESS).*/.exec(r.all ?? '')?.[0].replace(/\s*\n\s*/, ' ') ?? '';
  return { summary: line, passed, failed, skipped: count('skipped'), pending: count('pending'), specs, output: r.all ?? '' };
}
