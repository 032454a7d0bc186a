// How many `rbd`/`ceph` processes run at once against one Ceph cluster. Each process costs a
// start (librados, the monitor session, cephx: about a second of CPU on a small node), and the
// driver's own thread is blocked while Node forks it (0.1-0.5 s each in the lab node, more the
// busier the CPU). Unbounded, six calls at once during a monitor outage started eight processes
// on the lab node's one CPU: every pool of the driver stalled for 3 s, and the first process
// needed 7.6 s to report a 5 s connect timeout. Bounded, the first processes find the outage
// (reachability.ts) and the queued commands answer at once without a process.
import { availableParallelism } from 'node:os';
import { Slots } from '../../exec/slots.js';
import { StorageError } from '../errors.js';

/** One start per CPU, at least 2 (one slow command does not hold up the rest), at most 8. */
export const MAX_CLUSTER_COMMANDS = Math.min(8, Math.max(2, availableParallelism()));

const clusters = new Map<string, Slots>();

/** The command slots of the cluster at these monitors (every pool and user of it). */
export function slotsOf(monhost: readonly string[]): Slots {
  const key = [...monhost].sort().join(',');
  let s = clusters.get(key);
  if (!s) clusters.set(key, (s = new Slots(MAX_CLUSTER_COMMANDS)));
  return s;
}

/** A command that waited out its deadline for a slot: it never ran, so it says nothing about the
 * monitors (reachability.ts does not count it as an outage). UNAVAILABLE: the CO retries. */
export class NotStarted extends StorageError {
  constructor(message: string) {
    super('unavailable', message);
  }
}
