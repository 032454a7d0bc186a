// The node transports by kind (the `transport` key of volume_context). nfs and iscsi plug in here.
import type { Runner } from '../../exec/index.js';
import { BindTransport } from './bind.js';
import { IscsiTransport } from './iscsi.js';
import { LvmTransport } from './lvm.js';
import { RbdTransport } from './rbd.js';
import type { Transport } from './types.js';

export type { Attached, AttachOptions, Condition, Descriptor, Stashed, Transport } from './types.js';

export function transports(runner: Runner): ReadonlyMap<string, Transport> {
  const list: Transport[] = [new BindTransport(), new LvmTransport(runner), new RbdTransport(runner), new IscsiTransport(runner)];
  return new Map(list.map((t) => [t.kind, t]));
}
