// What this node has of a volume, read without changing anything: the stage stashes NodeStage
// wrote under the kubelet directory, the mount table, and the transport's read-only condition.
import { readdir, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { local, type Runner } from '../exec/index.js';
import { mountAt, readMounts, type MountEntry } from '../sys/mountinfo.js';
import { mountDir, readStash, STASH_FILE, type StageStash } from '../node/stash.js';
import { transports } from '../node/transports/index.js';

export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet';
/** Where kubelet puts CSI staging directories (…/csi/<driver or pv>/<hash or pv>/globalmount). */
const STAGING_ROOT = 'plugins/kubernetes.io/csi';
const MAX_DEPTH = 5;

export interface Stage {
  staging: string;
  /** The stash's own reading; `damaged` when it cannot be read (the reason). */
  stash?: StageStash;
  damaged?: string;
}

/** Every directory under `root` (to a small depth) holding a stage stash. */
export async function findStages(root: string): Promise<Stage[]> {
  const out: Stage[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try { entries = await readdir(dir, { withFileTypes: true }); } catch { return; }
    if (entries.some((e) => e.isFile() && e.name === STASH_FILE)) {
      try {
        const stash = await readStash(dir);
        if (stash) out.push({ staging: dir, stash });
      } catch (e) {
        out.push({ staging: dir, damaged: (e as Error).message });
      }
      return;
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of entries) if (e.isDirectory() && !e.isSymbolicLink()) await walk(join(dir, e.name), depth + 1);
  };
  await walk(root, 0);
  return out;
}

export const stagingRoot = (kubeletDir: string) => join(kubeletDir, STAGING_ROOT);

export interface NodeView {
  volumeId: string;
  staging: string;
  state: string;
  mode?: string;
  transport?: string;
  /** The device or directory the transport attached. */
  attached?: { kind: string; path: string; readonly: boolean };
  /** Whether the staging mount (filesystem volumes) is in the mount table. */
  stagingMounted: boolean;
  /** Mount points showing the same filesystem or device: the publish targets. */
  published: string[];
  condition?: { abnormal: boolean; message: string };
  damaged?: string;
}

/** Mounts that show what `attached` shows: binds of the staging mount, or of the device. */
async function targetsOf(mounts: MountEntry[], stage: Stage, staged: MountEntry | undefined): Promise<string[]> {
  const a = stage.stash?.attached;
  if (!a) return [];
  if (staged) return mounts.filter((m) => m.id !== staged.id && m.majorMinor === staged.majorMinor && m.root === staged.root).map((m) => m.mountPoint);
  if (a.kind === 'device') {
    // A block publish bind-mounts the device node: devtmpfs, root "/<kernel name>".
    let dev: string;
    try { dev = basename(await realpath(a.path)); } catch { return []; }
    return mounts.filter((m) => m.fsType === 'devtmpfs' && m.root === `/${dev}`).map((m) => m.mountPoint);
  }
  return mounts.filter((m) => m.root === a.path || m.root.endsWith(a.path)).map((m) => m.mountPoint);
}

export async function nodeViews(stages: Stage[], runner: Runner = local, mountinfo?: string): Promise<NodeView[]> {
  const mounts = await readMounts(mountinfo);
  const kinds = transports(runner);
  const out: NodeView[] = [];
  for (const st of stages) {
    if (!st.stash) { out.push({ volumeId: '?', staging: st.staging, state: 'damaged', stagingMounted: false, published: [], damaged: st.damaged! }); continue; }
    const s = st.stash;
    const staged = s.mode === 'filesystem' ? mountAt(mounts, mountDir(st.staging)) : undefined;
    const view: NodeView = {
      volumeId: s.volumeId, staging: st.staging, state: s.state, mode: s.mode, transport: s.transport,
      stagingMounted: staged !== undefined, published: await targetsOf(mounts, st, staged),
    };
    if (s.attached) {
      view.attached = { kind: s.attached.kind, path: s.attached.path, readonly: s.attached.readonly };
      const t = kinds.get(s.transport);
      if (t) {
        try {
          view.condition = await t.condition({ descriptor: s.descriptor, stash: s.attached.stash, path: s.attached.path });
        } catch (e) {
          view.condition = { abnormal: true, message: `condition check failed: ${(e as Error).message}` };
        }
      }
    }
    out.push(view);
  }
  return out;
}
