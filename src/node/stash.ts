// The stage stash: <staging_target_path>/poolcsi-stage.json, what NodeStage learned, so that
// NodeUnstage, NodeGetVolumeStats and NodeExpandVolume need neither the pool definition nor
// credentials. Written before the attach (intent: a crash between attach and the answer still
// leaves what detach needs) and completed after it. 0600, written atomically (temporary file,
// fsync, rename). The filesystem is mounted at <staging>/mount, so the stash is never hidden.
import { open, rm } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { writeFileAtomic } from '../sys/atomic.js';
import { NodeError } from './errors.js';

export const STASH_FILE = 'poolcsi-stage.json';
export const MOUNT_DIR = 'mount';
const MAX_STASH_BYTES = 64 * 1024;

export interface StageStash {
  version: 1;
  volumeId: string;
  /** attaching: written before the attach; staged: the volume is attached and staged. */
  state: 'attaching' | 'staged';
  mode: 'filesystem' | 'block';
  fsType: string;
  mountOptions: string[];
  /** The staged capability was reader-only. */
  readonly: boolean;
  transport: string;
  descriptor: Record<string, string>;
  attached?: { kind: 'device' | 'directory'; path: string; readonly: boolean; stash: Record<string, string> };
}

export const stashPath = (staging: string) => join(staging, STASH_FILE);
export const mountDir = (staging: string) => join(staging, MOUNT_DIR);

export async function writeStash(staging: string, s: StageStash): Promise<void> {
  await writeFileAtomic(stashPath(staging), `${JSON.stringify(s)}\n`);
}

const isStrMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
const isPath = (p: unknown): p is string => typeof p === 'string' && isAbsolute(p) && normalize(p) === p && !/[\0\n]/.test(p);

/** Checks a parsed stash; the message names what is wrong. */
export function checkStash(v: unknown): StageStash {
  const s = v as Partial<StageStash>;
  const fail = (why: string) => { throw new NodeError('precondition', `the stage stash is not valid (${why}); unstage by hand`); };
  if (typeof v !== 'object' || v === null) fail('not an object');
  if (s.version !== 1) fail(`version ${String(s.version)}`);
  if (typeof s.volumeId !== 'string' || !s.volumeId || s.volumeId.length > 512) fail('volumeId');
  if (s.state !== 'attaching' && s.state !== 'staged') fail('state');
  if (s.mode !== 'filesystem' && s.mode !== 'block') fail('mode');
  if (typeof s.fsType !== 'string') fail('fsType');
  if (!Array.isArray(s.mountOptions) || !s.mountOptions.every((o) => typeof o === 'string')) fail('mountOptions');
  if (typeof s.readonly !== 'boolean') fail('readonly');
  if (typeof s.transport !== 'string' || !/^[a-z][a-z0-9]{0,15}$/.test(s.transport)) fail('transport');
  if (!isStrMap(s.descriptor)) fail('descriptor');
  if (s.attached !== undefined) {
    const a = s.attached;
    if ((a.kind !== 'device' && a.kind !== 'directory') || !isPath(a.path) || typeof a.readonly !== 'boolean' || !isStrMap(a.stash)) fail('attached');
  }
  if (s.state === 'staged' && !s.attached) fail('staged without an attachment');
  return s as StageStash;
}

/** The stash in `staging`, undefined when there is none; NodeError 'precondition' when it is damaged. */
export async function readStash(staging: string): Promise<StageStash | undefined> {
  let text: string;
  try {
    const fh = await open(stashPath(staging), 'r');
    try {
      if ((await fh.stat()).size > MAX_STASH_BYTES) throw new NodeError('precondition', `${stashPath(staging)} is larger than ${MAX_STASH_BYTES} bytes`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { throw new NodeError('precondition', `${stashPath(staging)} is not JSON; unstage by hand`); }
  return checkStash(doc);
}

export async function removeStash(staging: string): Promise<void> {
  await rm(stashPath(staging), { force: true });
}

