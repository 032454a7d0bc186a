export { ExecError } from './errors.js';
export { local, checkArgv, DEFAULT_TIMEOUT_MS, type Runner, type RunOptions, type RunResult } from './runner.js';
export { waitFor, type WaitOptions } from './wait.js';
export { callScope, change, memoRead, outsideCall } from './memo.js';
