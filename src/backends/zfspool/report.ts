// Parsing `zfs list -H -p -o <columns>` (tab-separated, "-" for not applicable) into rows.
// Unit tests feed it output recorded from real OpenZFS (test/fixtures/zfs/).
import { StorageError } from '../errors.js';
import { DATASET_COLUMNS, SNAPSHOT_COLUMNS, SPACE_COLUMNS } from './commands.js';

export interface DatasetRow {
  name: string;
  type: 'filesystem' | 'volume';
  usedBytes: number;
  availableBytes: number;
  referencedBytes: number;
  /** zvols: the volume size; -1 for filesystems. */
  volsizeBytes: number;
  /** filesystems: the refquota (0 = none); -1 for zvols. */
  refquotaBytes: number;
  refreservationBytes: number;
  /** The snapshot a clone was made from, or "". */
  origin: string;
  createdAt: string;
  mounted: boolean;
  mountpoint: string;
  volblocksize: number;
  /** User properties by name (raw values, "-" when unset). */
  props: Record<string, string>;
}

export interface SnapshotRow {
  name: string;
  /** The dataset part of the name. */
  dataset: string;
  usedBytes: number;
  referencedBytes: number;
  createdAt: string;
  volsizeBytes: number;
  clones: string[];
  props: Record<string, string>;
}

export interface SpaceRow { name: string; usedBytes: number; availableBytes: number }

const num = (v: string | undefined): number => (v === undefined || v === '-' || v === '' || !/^[0-9]+$/.test(v) ? -1 : Number(v));
const when = (v: string | undefined): string => (num(v) >= 0 ? new Date(num(v) * 1000).toISOString() : new Date(0).toISOString());

function lines(out: string, columns: readonly string[], what: string): string[][] {
  return out.split('\n').filter((l) => l !== '').map((l) => {
    const f = l.split('\t');
    if (f.length !== columns.length) throw new StorageError('internal', `${what}: expected ${columns.length} tab-separated columns, got ${f.length}: ${JSON.stringify(l.slice(0, 200))}`);
    return f;
  });
}

function userProps(f: string[], columns: readonly string[]): Record<string, string> {
  const props: Record<string, string> = {};
  columns.forEach((c, i) => { if (c.includes(':')) props[c] = f[i]!; });
  return props;
}

export function parseDatasets(out: string): DatasetRow[] {
  const c = (name: (typeof DATASET_COLUMNS)[number]) => DATASET_COLUMNS.indexOf(name);
  return lines(out, DATASET_COLUMNS, 'zfs list').map((f) => {
    const type = f[c('type')];
    if (type !== 'filesystem' && type !== 'volume') throw new StorageError('internal', `zfs list: unexpected type ${JSON.stringify(type)}`);
    return {
      name: f[c('name')]!,
      type,
      usedBytes: num(f[c('used')]),
      availableBytes: num(f[c('available')]),
      referencedBytes: num(f[c('referenced')]),
      volsizeBytes: num(f[c('volsize')]),
      refquotaBytes: num(f[c('refquota')]),
      refreservationBytes: num(f[c('refreservation')]),
      origin: f[c('origin')] === '-' ? '' : f[c('origin')]!,
      createdAt: when(f[c('creation')]),
      mounted: f[c('mounted')] === 'yes',
      mountpoint: f[c('mountpoint')] === '-' ? '' : f[c('mountpoint')]!,
      volblocksize: num(f[c('volblocksize')]),
      props: userProps(f, DATASET_COLUMNS),
    };
  });
}

export function parseSnapshots(out: string): SnapshotRow[] {
  const c = (name: (typeof SNAPSHOT_COLUMNS)[number]) => SNAPSHOT_COLUMNS.indexOf(name);
  return lines(out, SNAPSHOT_COLUMNS, 'zfs list -t snapshot').map((f) => {
    const name = f[c('name')]!;
    const clones = f[c('clones')]!;
    return {
      name,
      dataset: name.slice(0, name.indexOf('@')),
      usedBytes: num(f[c('used')]),
      referencedBytes: num(f[c('referenced')]),
      createdAt: when(f[c('creation')]),
      volsizeBytes: num(f[c('volsize')]),
      clones: clones === '-' || clones === '' ? [] : clones.split(','),
      props: userProps(f, SNAPSHOT_COLUMNS),
    };
  });
}

export function parseSpace(out: string): SpaceRow[] {
  return lines(out, SPACE_COLUMNS, 'zfs list').map((f) => ({ name: f[0]!, usedBytes: num(f[1]), availableBytes: num(f[2]) }));
}

export interface ZpoolRow { name: string; sizeBytes: number; allocatedBytes: number; freeBytes: number; health: string }

export function parseZpools(out: string): ZpoolRow[] {
  return lines(out, ['name', 'size', 'allocated', 'free', 'health'], 'zpool list').map((f) => ({
    name: f[0]!, sizeBytes: num(f[1]), allocatedBytes: num(f[2]), freeBytes: num(f[3]), health: f[4]!,
  }));
}
