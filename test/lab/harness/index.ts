// The lab harness: UML nodes with real kernels and daemons, for lab and csi-sanity tests.
export {
  Lab,
  LAB_SUBNET,
  labFiles,
  labRequirements,
  startLab,
  startService,
  storageSet,
  withLab,
  type LabSpec,
  type NodeSpec,
  type StorageSetOptions,
  type Timing,
} from './lab.js';
export { LabError, LabNode, describeFailure, initiatorIqn, type ExecOptions, type ExecResult, type SpawnedProcess } from './node.js';
export { ARTIFACTS_DIR, K8S_CACHE, LAB_BASE, NODE_ENV, REPO_ROOT, RUNS_DIR } from './paths.js';
export { ensureKubeApiserver, k8sVersion, kubeApiserverPath, kubeEnv, labKubeconfig, KUBE_NAMESPACE, KUBECONFIG_IN_NODE } from './kube.js';
export { PreflightError, preflight, preflightMessage, preflightProblems } from './preflight.js';
export { BASE_REQUIREMENTS, type Requirement } from './requirements.js';
export { SERVICES, SERVICE_NAMES, type ServiceName } from './services.js';
export { hostSnapshot, snapshotDiff, type HostSnapshot } from './host.js';
export { labLeftovers, sweepStaleRuns } from './teardown.js';
export { CSI_SANITY, DRIVER_MAIN, parseSummary, runSanity, sanityInLab, type SanityMode, type SanityModeResult, type SanityOptions, type SanityResult, type SanitySpec } from './sanity.js';
export { blockSize, createFileLun, iscsiLogin, iscsiLogout, scratchFilesystem, type FileLun, type ScratchFilesystem } from './stacks.js';
export { pollUntil } from './poll.js';
export { startDriver, CSI_CALL, type DriverOptions, type NodeDriver } from './driver.js';
export { createZpool, startZfsGuest, withZfsGuest, zfsGuest, zfsImage, ZFS_CACHE, type ZfsGuestSpec, type ZfsImage, type ZfsLab } from './zfsguest.js';
