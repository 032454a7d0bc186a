// The harness's own cleanup: mounts the driver left under a staging root (after a failed run).
import { execFileSync } from 'node:child_process';
import { mountsUnder } from './crash.js';

export function unmountUnder(root: string): void {
  // Deepest first, so a mount under another comes off before its parent.
  for (const m of mountsUnder(root).sort((x, y) => y.length - x.length)) {
    try { execFileSync('umount', ['-l', '--', m], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
}
