// `poolcsi health`: the livenessprobe sidecar's job. GET /healthz calls the driver's CSI Probe
// over its socket, so a kubelet liveness probe on this port restarts a driver that stopped
// answering (or answers not ready).
import { isAbsolute, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { IdentityClient } from '../csi/client.js';
import { serveHealth } from './http-health.js';

export const HEALTH_HELP = `Usage: poolcsi health --csi-address PATH --http-endpoint [HOST]:PORT [--probe-timeout-seconds N]

Serves GET /healthz: 200 when the driver on --csi-address answers the CSI Probe ready within
the timeout (default 4 s), 500 with the reason otherwise.
`;

export async function healthCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'csi-address': { type: 'string' },
      'http-endpoint': { type: 'string' },
      'probe-timeout-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(HEALTH_HELP); return 0; }
  const path = values['csi-address']?.replace(/^unix:\/\//, '');
  if (!path || !isAbsolute(path) || normalize(path) !== path) throw new Error('--csi-address must be an absolute, normalized path');
  if (!values['http-endpoint']) throw new Error('--http-endpoint is required');
  const timeoutS = Number(values['probe-timeout-seconds'] ?? 4);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0 || timeoutS > 300) throw new Error('--probe-timeout-seconds must be a number of seconds in (0, 300]');
  const identity = new IdentityClient(`unix://${path}`);
  const server = await serveHealth(values['http-endpoint'], () => identity.probe(timeoutS * 1000));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  server.close();
  identity.close();
  return 0;
}
