#!/usr/bin/env node
// The poolcsi program. A CommonJS entry, so that it runs before Node reads any ES module: the
// ES module loader reads files on libuv's thread pool, which takes its size from
// UV_THREADPOOL_SIZE at its first use. `serve` gets 64 threads (default 4): a filesystem call
// on an NFS export whose server just went away holds its thread until the soft mount gives up,
// and four such calls stalled every other pool's file operations (test/lab/reliability-shared).
// heap.ts must run before any other module is even parsed (loading them already grows the
// heap), so the command line comes in by a dynamic import after it.
if (process.argv[2] === 'serve' && !process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '64';

void (async () => {
  await import('./heap.js');
  await import('./commands.js');
})().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
