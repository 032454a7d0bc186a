// ZFS names for volumes, snapshots and the driver's own objects. A volume is the dataset
// <parent>/<volume name> when ZFS accepts the name (so `zfs list` shows pvc-<uuid>), else a hash
// of it; ":" (which ZFS allows and volume names never hold) marks the driver's own objects, so
// they can never collide with a volume or snapshot. The user properties, not the names, say
// what a dataset or snapshot is.
import { createHash } from 'node:crypto';

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 20);

/** One component of a dataset or snapshot name as poolcsi makes them. */
export const ZFS_COMPONENT = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
/** ZFS_MAX_DATASET_NAME_LEN is 256 with the terminating NUL. */
export const MAX_ZFS_NAME = 255;

/** A dataset path: components joined by "/", no snapshot part. */
export function isDatasetName(n: string): boolean {
  return n.length <= MAX_ZFS_NAME && n.split('/').every((c) => ZFS_COMPONENT.test(c));
}

const component = (s: string, prefix: string) => (ZFS_COMPONENT.test(s) && !s.includes(':') ? s : `${prefix}${hash(s)}`);

export function volumeDataset(parent: string, volume: string): string {
  return `${parent}/${component(volume, 'pv-')}`;
}

export function snapshotName(dataset: string, volume: string, snapshot: string): string {
  return `${dataset}@${ZFS_COMPONENT.test(snapshot) && !snapshot.includes(':') ? snapshot : `snap-${hash(`${volume}@${snapshot}`)}`}`;
}

/** The snapshot a volume-to-volume clone is made from (a driver object). */
export function cloneSourceSnapshot(sourceDataset: string, targetDataset: string): string {
  return `${sourceDataset}@clone:${targetDataset.slice(targetDataset.lastIndexOf('/') + 1)}`;
}

/** Where a deleted volume that still has dependents waits (see docs/pools.md, zfspool). */
export function trashDataset(parent: string, dataset: string, random: string): string {
  return `${parent}/trash:${random}:${dataset.slice(dataset.lastIndexOf('/') + 1)}`.slice(0, MAX_ZFS_NAME);
}

export const isTrash = (parent: string, dataset: string): boolean => dataset.startsWith(`${parent}/trash:`);
