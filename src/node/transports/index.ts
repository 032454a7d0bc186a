// The node transports by kind (the `transport` key of volume_context). iscsi plugs in here.
import { join } from 'node:path';
import type { Runner } from '../../exec/index.js';
import { BindTransport } from './bind.js';
import { IscsiTransport } from './iscsi.js';
import { LvmTransport } from './lvm.js';
import { NFS_MOUNT_ROOT, NfsTransport } from './nfs.js';
import { RbdTransport } from './rbd.js';
import type { Transport } from './types.js';
import { ZfsTransport } from './zfs.js';

export type { Attached, AttachOptions, Condition, Descriptor, Stashed, Transport } from './types.js';

export function transports(runner: Runner): ReadonlyMap<string, Transport> {
  const list: Transport[] = [new BindTransport(), new LvmTransport(runner), new RbdTransport(runner), new IscsiTransport(runner),
    new NfsTransport(runner, { mountRoot: join(NFS_MOUNT_ROOT, 'volumes') }), new ZfsTransport(runner)];
  return new Map(list.map((t) => [t.kind, t]));
}
