// argv for every zfs command poolcsi runs (never a shell string). Reads use -H (tab-separated,
// no header) and -p (exact numbers: bytes, seconds) with explicit -o columns, so the parser
// never depends on ZFS's defaults.
import { USER_PROPS } from './props.js';

export interface Program { program: string; args: string[] }

/** Columns of a dataset (volume) row; report.ts reads them in this order. */
export const DATASET_COLUMNS = [
  'name', 'type', 'used', 'available', 'referenced', 'volsize', 'refquota', 'refreservation', 'origin', 'creation', 'mounted', 'mountpoint',
  'volblocksize', ...USER_PROPS,
] as const;
/** Columns of a snapshot row. */
export const SNAPSHOT_COLUMNS = ['name', 'used', 'referenced', 'creation', 'volsize', 'clones', ...USER_PROPS, 'poolcsi.io:size'] as const;
export const SPACE_COLUMNS = ['name', 'used', 'available'] as const;

const setArgs = (props: Readonly<Record<string, string>>) => Object.entries(props).flatMap(([k, v]) => ['-o', `${k}=${v}`]);

/** The parent and its children (the volumes; trash too). */
export function listDatasetsCmd(parent: string): Program {
  return { program: 'zfs', args: ['list', '-H', '-p', '-r', '-d', '1', '-t', 'filesystem,volume', '-o', DATASET_COLUMNS.join(','), parent] };
}

/** One dataset. */
export function getDatasetCmd(dataset: string): Program {
  return { program: 'zfs', args: ['list', '-H', '-p', '-t', 'filesystem,volume', '-o', DATASET_COLUMNS.join(','), dataset] };
}

/** Every snapshot of the volumes under the parent (depth 2: <parent>/<volume>@<snapshot>). */
export function listSnapshotsCmd(parent: string): Program {
  return { program: 'zfs', args: ['list', '-H', '-p', '-r', '-d', '2', '-t', 'snapshot', '-o', SNAPSHOT_COLUMNS.join(','), parent] };
}

export function spaceCmd(dataset: string): Program {
  return { program: 'zfs', args: ['list', '-H', '-p', '-o', SPACE_COLUMNS.join(','), dataset] };
}

/** A zvol; `sparse` creates it without a reservation (-s). volsize must be a multiple of volblocksize. */
export function createZvolCmd(dataset: string, sizeBytes: number, sparse: boolean, props: Readonly<Record<string, string>>): Program {
  return { program: 'zfs', args: ['create', ...(sparse ? ['-s'] : []), '-V', String(sizeBytes), ...setArgs(props), dataset] };
}

/** A filesystem dataset (its size is the refquota in props). */
export function createDatasetCmd(dataset: string, props: Readonly<Record<string, string>>): Program {
  return { program: 'zfs', args: ['create', ...setArgs(props), dataset] };
}

export function snapshotCmd(snapshot: string, props: Readonly<Record<string, string>>): Program {
  return { program: 'zfs', args: ['snapshot', ...setArgs(props), snapshot] };
}

export function cloneCmd(snapshot: string, dataset: string, props: Readonly<Record<string, string>>): Program {
  return { program: 'zfs', args: ['clone', ...setArgs(props), snapshot, dataset] };
}

export function setCmd(target: string, props: Readonly<Record<string, string>>): Program {
  return { program: 'zfs', args: ['set', ...Object.entries(props).map(([k, v]) => `${k}=${v}`), target] };
}

export function inheritCmd(target: string, prop: string): Program {
  return { program: 'zfs', args: ['inherit', prop, target] };
}

/** Destroys one dataset or snapshot; never recursive (what depends on it is checked first). */
export function destroyCmd(target: string): Program {
  return { program: 'zfs', args: ['destroy', target] };
}

/** Renames a dataset (its snapshots follow it; clones keep their origin). */
export function renameCmd(from: string, to: string): Program {
  return { program: 'zfs', args: ['rename', from, to] };
}

/** Every pool (for `poolcsi scan zfs`). */
export function zpoolListCmd(): Program {
  return { program: 'zpool', args: ['list', '-H', '-p', '-o', 'name,size,allocated,free,health'] };
}

/** Every filesystem dataset (for `poolcsi scan zfs`). */
export function allFilesystemsCmd(): Program {
  return { program: 'zfs', args: ['list', '-H', '-p', '-t', 'filesystem', '-o', SPACE_COLUMNS.join(',')] };
}

/** Waits (up to `seconds`) for udev to have handled the events so far, or at once when `dev` exists. */
export function settleCmd(dev: string, seconds: number): Program {
  return { program: 'udevadm', args: ['settle', `--exit-if-exists=${dev}`, `--timeout=${seconds}`] };
}

/** Exits 0 when `dev` is a block device (test -b follows the link). */
export function isBlockCmd(dev: string): Program {
  return { program: 'test', args: ['-b', dev] };
}
