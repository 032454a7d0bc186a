// A pool's identity keys: the fields that say which storage it is. Changing one points the
// pool at other storage, so existing volumes would be lost to it (shown by `pools status`).
import type { Pool } from './schema.js';

export function identityKeys(pool: Pool): Record<string, string> {
  switch (pool.type) {
    case 'dir': return { path: pool.path };
    case 'lvm': return { vgname: pool.vgname };
    case 'lvmthin': return { vgname: pool.vgname, thinpool: pool.thinpool };
    case 'rbd': return { monhost: pool.monhost.join(','), pool: pool.pool, ...(pool.cluster ? { cluster: pool.cluster } : {}) };
  }
}
