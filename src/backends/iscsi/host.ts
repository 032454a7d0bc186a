// The Runner of an iscsi pool's storage host: this machine (`local: true`) or SSH. Backends are
// built synchronously; the SSH runner (which may read a host key from a Secret) is fetched on
// the first command, and shared with every pool naming the same target (backends/ssh.ts).
import type { RunOptions, RunResult, Runner } from '../../exec/index.js';
import type { IscsiExportPool } from '../../pools/schema.js';
import { sshRunnerFor } from '../ssh.js';

class StorageHostRunner implements Runner {
  readonly host: string;
  constructor(private readonly pool: IscsiExportPool & { ssh: NonNullable<IscsiExportPool['ssh']> }) { this.host = pool.ssh.host; }
  async run(program: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const r = await sshRunnerFor(this.pool.ssh, `pool "${this.pool.id}"`);
    return r.run(program, args, opts);
  }
}

export function storageHostRunner(pool: IscsiExportPool, local: Runner): Runner {
  return pool.ssh ? new StorageHostRunner({ ...pool, ssh: pool.ssh }) : local;
}
