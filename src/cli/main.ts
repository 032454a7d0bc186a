#!/usr/bin/env node
// The poolcsi program. heap.ts must run before any other module is even parsed (loading them
// already grows the heap), so the command line comes in by a dynamic import after it.
import './heap.js';

await import('./commands.js');
