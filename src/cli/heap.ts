// Run by main.ts before any other module is loaded: `serve` is a long-lived, mostly idle
// process whose work is waiting on programs and sockets, so V8 is tuned for memory over peak
// JavaScript speed (docs/performance.md has the before and after):
// - the young generation stays at its initial 1 MiB: grown to 16 MiB semi-spaces (32 MiB
//   committed) while the modules load, it was a third of the resident memory. At run time V8
//   honours the growth factor (its heap limits are fixed at start: --max-semi-space-size given
//   here would be ignored);
// - no optimizing compiler (--no-opt) and V8's size-first heuristics (--optimize-for-size):
//   6 to 10 MiB less, at the same requests per second in the memory bench.
// The same flags on node's own command line or in NODE_OPTIONS win.
import { setFlagsFromString } from 'node:v8';

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
const has = (re: RegExp) => given.some((a) => re.test(a));
if (process.argv[2] === 'serve') {
  if (!has(/semi[-_]space/)) setFlagsFromString('--semi-space-growth-factor=1');
  if (!has(/^--(no[-_])?(opt|turbofan|maglev)$/)) setFlagsFromString('--no-opt');
  if (!has(/optimize[-_]for[-_]size/)) setFlagsFromString('--optimize-for-size');
}
