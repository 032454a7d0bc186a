// Run by main.ts before any other module is loaded: `serve` is a long-lived, mostly idle
// process, and V8's young generation, grown to 16 MiB semi-spaces (32 MiB committed) while the
// modules load, is a third of its resident memory. Kept at its initial 1 MiB it costs more
// frequent but tiny scavenges; docs/performance.md has the before and after. At run time V8
// honours the growth factor (its heap limits are fixed at start: --max-semi-space-size given
// here would be ignored). A semi-space flag on node's own command line or in NODE_OPTIONS wins.
import { setFlagsFromString } from 'node:v8';

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /semi[-_]space/.test(a));
if (process.argv[2] === 'serve' && !given) setFlagsFromString('--semi-space-growth-factor=1');
