// Where the lab's files are: the scripts a node runs (read from the source tree through
// hostfs), the compiled agent, and the host directories a lab run uses.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is compiled to dist/test/lab/harness/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** init.sh, lvm.conf and services/*.sh, as written in the source tree. */
export const NODE_FILES = join(REPO_ROOT, 'test', 'lab', 'node');
export const INIT_SCRIPT = join(NODE_FILES, 'init.sh');
export const SERVICE_SCRIPTS = join(NODE_FILES, 'services');
/** The compiled lab agent (test/lab/agent/agent.ts). */
export const AGENT_JS = fileURLToPath(new URL('../agent/agent.js', import.meta.url));

/** Everything a lab run puts on the host lives under here. It must not be a path a node
 * overmounts (/tmp, /run, /srv, /mnt, ...), or the node would not see it. */
export const LAB_BASE = process.env.LAB_BASE_DIR ?? '/var/tmp/poolcsi-lab';
/** Per-run scratch (spools, node disks, keys, UML's own dir): removed at teardown. */
export const RUNS_DIR = join(LAB_BASE, 'run');
/** Console and service logs, kept after teardown for diagnosis; one folder per lab name,
 * replaced when a lab of that name starts again. */
export const ARTIFACTS_DIR = process.env.LAB_ARTIFACTS_DIR ?? join(LAB_BASE, 'artifacts');

/** The k8s lane's build cache (test/k8s/build-go.sh): service kube-apiserver runs its
 * kube-apiserver from here. Under /var/tmp, so nodes see it through hostfs. */
export const K8S_CACHE = process.env.POOLCSI_K8S_CACHE ?? '/var/tmp/poolcsi-cache/k8s';

/** Environment every command inside a node gets (set by init.sh from the labenv file). */
export const NODE_ENV = {
  /** lvm.conf with udev off. A driver running in the lab needs this in its environment. */
  LVM_SYSTEM_DIR: '/run/lab/lvm',
  /** A node-private HOME, so tools' dotfiles stay off the host's /root. */
  HOME: '/run/lab/home',
  CEPH_CONF: '/etc/ceph/ceph.conf',
  /** Python (targetcli, ceph) would otherwise write bytecode caches into the host's /usr. */
  PYTHONDONTWRITEBYTECODE: '1',
} as const;

/** Paths inside nodes that init.sh mounts over: they must exist on the host. */
export const NODE_MOUNT_POINTS = [
  '/lib/modules',
  '/root/.ssh',
  '/etc/iscsi',
  '/etc/multipath', // multipath -a writes the WWIDs file here
  '/etc/target',
  '/etc/rtslib-fb-target', // targetcli saves its configuration here on every exit
  '/etc/ceph',
  '/etc/lvm',
  '/var/lib/iscsi',
  '/var/lib/nfs',
  '/var/lib/ceph',
  '/srv',
  '/mnt',
];
