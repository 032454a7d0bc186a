// Service kube-apiserver's host side: the binary it runs (the k8s lane's build, in the cache
// outside the repository) and where a test finds its kubeconfig.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Lab } from './lab.js';
import { K8S_CACHE, REPO_ROOT } from './paths.js';
import { isExecutable } from './preflight.js';

export const K8S_BUILD_GO = join(REPO_ROOT, 'test', 'k8s', 'build-go.sh');
/** Inside the node running service kube-apiserver. */
export const KUBECONFIG_IN_NODE = '/run/lab/kube/kubeconfig';
/** The namespace the service creates, and its kubeconfig's default. */
export const KUBE_NAMESPACE = 'poolcsi';
export const KUBE_APISERVER_FIX = 'build it with bash test/k8s/build-go.sh kubernetes (ensureKubeApiserver() in a test)';

/** K8S_VERSION of test/k8s/versions.env. */
export function k8sVersion(): string {
  const m = /^K8S_VERSION=(\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'test', 'k8s', 'versions.env'), 'utf8'));
  if (!m) throw new Error('no K8S_VERSION in test/k8s/versions.env');
  return m[1]!;
}

export function kubeApiserverPath(): string {
  const v = k8sVersion();
  return join(K8S_CACHE, 'bin', `kube-apiserver-${v}`, 'kube-apiserver');
}

/**
 * The kube-apiserver service kube-apiserver runs, built first when the cache lacks it: runs
 * `bash test/k8s/build-go.sh kubernetes` (a no-op when cached; it waits on a lock while the k8s
 * lane or another test builds the same thing). A cold build is long (docs/k8s.md: about 44
 * CPU-minutes for all Kubernetes commands), so call it before booting, with a test timeout to
 * match. Runs at `nice -n $POOLCSI_K8S_BUILD_NICE` (default 15), as the k8s lane does.
 * Resolves with the binary's path.
 */
export async function ensureKubeApiserver(opts: { timeoutMs?: number } = {}): Promise<string> {
  const path = kubeApiserverPath();
  if (!isExecutable(path)) {
    const nice = String(Number(process.env.POOLCSI_K8S_BUILD_NICE ?? 15) || 0);
    const r = await execa('nice', ['-n', nice, 'bash', K8S_BUILD_GO, 'kubernetes'], {
      reject: false, all: true, timeout: opts.timeoutMs ?? 180 * 60_000, env: { POOLCSI_K8S_CACHE: K8S_CACHE },
    });
    if (r.exitCode !== 0 || !isExecutable(path)) {
      throw new Error(`build-go.sh kubernetes ${r.timedOut ? 'timed out' : `failed (${r.exitCode ?? r.signal})`}; no ${path}\n${(r.all ?? '').split('\n').slice(-30).join('\n')}`);
    }
  }
  return path;
}

/** The kubeconfig of the API server on node `apiNode`, as a path valid on the host and in every
 * node of the lab (the lab's shared directory). */
export function labKubeconfig(lab: Lab, apiNode: string): string {
  lab.node(apiNode); // throws for a node the lab lacks
  return join(lab.run.runDir, 'shared', 'kube', apiNode, 'kubeconfig');
}

/** Environment for a driver (or any @kubernetes/client-node program) in any node of the lab to
 * use the API server on `apiNode`: KUBECONFIG, and POD_NAMESPACE (the namespace the service
 * made). */
export function kubeEnv(lab: Lab, apiNode: string): { KUBECONFIG: string; POD_NAMESPACE: string } {
  return { KUBECONFIG: labKubeconfig(lab, apiNode), POD_NAMESPACE: KUBE_NAMESPACE };
}
