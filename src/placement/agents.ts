// The controller side's agent directory from the --agents flag, shared by `poolcsi serve` and
// the admin commands so both reach node-local pools through the very same agents.
import type { Agent } from '../agent/agents.js';
import type { TlsFiles } from '../agent/tls.js';
import type { Logger } from '../observe/log.js';
import { parseAgentMap, StaticAgentDirectory, type AgentDirectory } from './directory.js';
import { KubeNodeAgentDirectory, parseNodesPort } from './nodes.js';

/**
 * "nodes:PORT" (every Ready Kubernetes Node's InternalIP at PORT, watched) or a fixed
 * "NODE=HOST:PORT,..." list; `own` is this process's in-process agent, if it has one. The
 * directory is closed again when its start fails.
 */
export async function openAgents(spec: string, tls: TlsFiles, log: Logger, own?: Agent): Promise<AgentDirectory> {
  const port = parseNodesPort(spec);
  if (port === undefined) return new StaticAgentDirectory(parseAgentMap(spec), tls, own);
  const dir = new KubeNodeAgentDirectory(port, tls, log, own);
  try {
    await dir.start();
  } catch (e) {
    dir.close();
    throw e;
  }
  return dir;
}
