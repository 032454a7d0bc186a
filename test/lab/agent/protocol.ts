// The file protocol between the host-side harness and the lab agent inside a UML node.
// The spool directory is on the host file system (hostfs inside the node, outside every
// path the node overmounts), so both sides see the same files. Requests and results are
// written to a temporary name and renamed, so a reader never sees half a file.

/** Run a command to completion and report its output. */
export interface ExecRequest {
  kind: 'exec';
  id: string;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's stdin; stdin is /dev/null when absent. */
  input?: string;
  timeoutMs: number;
}

/** Start a long-running command in the background; its output goes to logFile. */
export interface SpawnRequest {
  kind: 'spawn';
  id: string;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  logFile: string;
}

/** Send a signal to a process group started by a spawn request. */
export interface KillRequest {
  kind: 'kill';
  id: string;
  pid: number;
  signal: NodeJS.Signals;
}

export type AgentRequest = ExecRequest | SpawnRequest | KillRequest;

export interface ExecResult {
  kind: 'exec';
  id: string;
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

export interface SpawnResult {
  kind: 'spawn';
  id: string;
  pid: number;
}

export interface KillResult {
  kind: 'kill';
  id: string;
  /** False when the process group no longer existed. */
  delivered: boolean;
}

/** The agent could not carry out the request at all (bad argv, spawn error). */
export interface ErrorResult {
  kind: 'error';
  id: string;
  message: string;
}

export type AgentResult = ExecResult | SpawnResult | KillResult | ErrorResult;

/** Written by the agent once it polls the spool: the node is up. */
export interface AgentReady {
  pid: number;
  /** Seconds since the node's kernel started, from /proc/uptime. */
  uptimeS: number;
}

export const REQUEST_PREFIX = 'req-';
export const RESULT_PREFIX = 'res-';
export const READY_FILE = 'agent.ready';
